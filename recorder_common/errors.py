"""Domain errors raised by the plain rule modules; the identity interceptor maps them to gRPC
status codes for every handler (recorder_common.identity).

Each error carries the status it becomes and a message a person can act on. Anything that is not
a DomainError becomes INTERNAL with a generic message: exception text (paths, addresses, class
names) never reaches a caller.
"""
from __future__ import annotations

import logging

import grpc
from google.protobuf.descriptor import Descriptor, FieldDescriptor

log = logging.getLogger("recorder.rpc")


class DomainError(Exception):
    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(DomainError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(DomainError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(DomainError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class OutOfRange(DomainError):
    code = grpc.StatusCode.OUT_OF_RANGE


class ResourceExhausted(DomainError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason  # the limit, for recorder_quota_refusals; "" when relayed from another service


class Unauthenticated(DomainError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(DomainError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(DomainError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(DomainError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, OutOfRange, ResourceExhausted,
    Unauthenticated, PermissionDenied, Unavailable, DeadlineExceeded,
)}


# Statuses the gRPC transport makes up itself (connection refused, deadline passed): their details
# name internal addresses, so the caller gets our own words and the log gets the details.
_TRANSPORT_CODES = {
    grpc.StatusCode.UNAVAILABLE: "{service} is unavailable; try again shortly",
    grpc.StatusCode.DEADLINE_EXCEEDED: "{service} did not answer in time; try again shortly",
}


def from_rpc_error(error: grpc.aio.AioRpcError, service: str) -> DomainError:
    """Turn a failed outbound call back into a domain error, so a dependency's precise status
    (NOT_FOUND from the catalog, say) reaches our caller unchanged. Anything unexpected becomes
    UNAVAILABLE: the dependency failed, not the caller's request."""
    code = error.code()
    cls = _BY_CODE.get(code)
    if cls is None or code in _TRANSPORT_CODES:
        log.warning("call to %s failed: %s: %s", service, code.name, error.details())
        if cls is None:
            return Unavailable(f"{service} failed ({code.name}); try again shortly")
        return cls(_TRANSPORT_CODES[code].format(service=service))
    return cls(error.details() or f"{service}: {code.name}")


def undecodable_reason(message_class, data: bytes) -> str:
    """Why request bytes do not parse as message_class, in words a client developer can act on:
    the first text field that is not valid UTF-8 (by its field path), else malformed bytes."""
    descriptor = getattr(message_class, "DESCRIPTOR", None)
    if not isinstance(descriptor, Descriptor):
        return "the request is not a valid message (malformed protobuf bytes)"
    try:
        field = _first_invalid_utf8(descriptor, memoryview(data), "", 0)
    except _Malformed:
        field = None
    if field is not None:
        return f"field {field!r} of {descriptor.full_name} is not valid UTF-8; text fields must be UTF-8"
    return f"the request is not a valid {descriptor.full_name} message (malformed protobuf bytes)"


class _Malformed(Exception):
    pass


_MAX_NESTING = 32


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _first_invalid_utf8(descriptor: Descriptor, data: memoryview, prefix: str, depth: int) -> str | None:
    """A walk over the wire format (tag, then varint / fixed / length-delimited value), looking into
    string fields and nested messages only; unknown fields are skipped as the parser would."""
    if depth > _MAX_NESTING:
        raise _Malformed
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            _, pos = _varint(data, pos)
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        elif wire_type == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
            if pos > len(data):
                raise _Malformed
            field = descriptor.fields_by_number.get(number)
            if field is None:
                continue
            if field.type == FieldDescriptor.TYPE_STRING:
                try:
                    str(value, "utf-8")
                except UnicodeDecodeError:
                    return prefix + field.name
            elif field.type == FieldDescriptor.TYPE_MESSAGE:
                found = _first_invalid_utf8(field.message_type, value, f"{prefix}{field.name}.", depth + 1)
                if found is not None:
                    return found
        else:
            raise _Malformed  # groups (3, 4) are not used by any of our messages
        if pos > len(data):
            raise _Malformed
    return None
