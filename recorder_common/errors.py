"""Domain errors raised by the plain rule modules; the identity interceptor maps them to gRPC
status codes for every handler (recorder_common.identity).

Each error carries the status it becomes, a message a person can act on, and a stable reason a
program can branch on, sent as google.rpc.ErrorInfo (domain "recorder.v1") in the status details
(the grpc-status-details-bin trailer). Every class has a default reason; a refusal with its own
remedy (a quota, an upload that takes no more chunks) names a more precise one. Anything that is
not a DomainError becomes INTERNAL with a generic message: exception text (paths, addresses, class
names) never reaches a caller.
"""

from __future__ import annotations

import enum
import logging
from typing import ClassVar

import grpc
from google.protobuf.any_pb2 import Any
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

log = logging.getLogger("recorder.rpc")

ERROR_DOMAIN = "recorder.v1"
STATUS_DETAILS_KEY = "grpc-status-details-bin"


@enum.unique
class Reason(enum.StrEnum):
    """The catalogue of refusal reasons (ErrorInfo.reason). Stable: clients branch on them, so a
    reason is added, never renamed. The README lists them."""

    # Defaults, one per error class.
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAVAILABLE = "UNAVAILABLE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    # Precise refusals.
    CHECKSUM_MISMATCH = "CHECKSUM_MISMATCH"  # a chunk's CRC32C or SHA-256 does not match its bytes: resend it
    CHUNK_CONFLICT = "CHUNK_CONFLICT"  # the index is stored with different bytes; the stored chunk is kept
    UPLOAD_FINISHED = "UPLOAD_FINISHED"  # the video takes no new chunks (uploaded, expired, aborted, ...)
    PAST_LAST_CHUNK = "PAST_LAST_CHUNK"  # the index is past the chunk flagged last, or contradicts it
    STATUS_CONFLICT = "STATUS_CONFLICT"  # the video's status does not allow this (retry a READY video, say)
    LEASE_LOST = "LEASE_LOST"  # the worker no longer holds the video's processing lease
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"  # the owner's storage quota
    UPLOAD_TOO_LARGE = "UPLOAD_TOO_LARGE"  # over the bytes one upload may have
    CHUNK_TOO_LARGE = "CHUNK_TOO_LARGE"  # over the bytes one chunk may have: send smaller chunks
    TOO_MANY_CHUNKS = "TOO_MANY_CHUNKS"  # the index is over the chunks one upload may have
    TOO_MANY_OPEN_UPLOADS = "TOO_MANY_OPEN_UPLOADS"  # finish or abort an upload first
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"  # the owner retried processing as often as allowed
    TOO_MANY_WATCH_STREAMS = "TOO_MANY_WATCH_STREAMS"  # close a WatchVideo stream first
    STREAM_IDLE = "STREAM_IDLE"  # an Upload stream sent nothing for too long; what arrived is kept


# The status class of each code (filled as the classes below are declared).
_BY_CODE: dict[grpc.StatusCode, type[DomainError]] = {}


class DomainError(Exception):
    code: ClassVar[grpc.StatusCode] = grpc.StatusCode.UNKNOWN
    default_reason: ClassVar[Reason]

    def __init_subclass__(cls, code: grpc.StatusCode | None = None, **kwargs: object) -> None:
        """`class NotFound(DomainError, code=grpc.StatusCode.NOT_FOUND)` declares the status class
        of a code (the one from_rpc_error rebuilds); its default reason is the status's own name."""
        super().__init_subclass__(**kwargs)
        if code is not None:
            cls.code = code
            _BY_CODE[code] = cls
        if "default_reason" not in cls.__dict__ and cls.code.name in Reason.__members__:
            cls.default_reason = Reason[cls.code.name]

    def __init__(self, message: str, reason: Reason | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason: Reason = reason or self.default_reason
        # Relayed from another of our services (from_rpc_error): that service counted it already.
        self.relayed = False

    def status_details(self) -> bytes:
        """The google.rpc.Status for grpc-status-details-bin: code, message and our ErrorInfo."""
        detail = Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=self.reason.value, domain=ERROR_DOMAIN))
        status = status_pb2.Status(code=self.code.value[0], message=self.message, details=[detail])
        details: bytes = status.SerializeToString()
        return details


# One status class per code a refusal may have.
class InvalidArgument(DomainError, code=grpc.StatusCode.INVALID_ARGUMENT): ...


class NotFound(DomainError, code=grpc.StatusCode.NOT_FOUND): ...


class AlreadyExists(DomainError, code=grpc.StatusCode.ALREADY_EXISTS): ...


class FailedPrecondition(DomainError, code=grpc.StatusCode.FAILED_PRECONDITION): ...


class OutOfRange(DomainError, code=grpc.StatusCode.OUT_OF_RANGE): ...


class ResourceExhausted(DomainError, code=grpc.StatusCode.RESOURCE_EXHAUSTED): ...


class Unauthenticated(DomainError, code=grpc.StatusCode.UNAUTHENTICATED): ...


class PermissionDenied(DomainError, code=grpc.StatusCode.PERMISSION_DENIED): ...


class Unavailable(DomainError, code=grpc.StatusCode.UNAVAILABLE): ...


class DeadlineExceeded(DomainError, code=grpc.StatusCode.DEADLINE_EXCEEDED): ...


def reason_of(error: grpc.RpcError) -> Reason | None:
    """The ErrorInfo reason a failed call carries (our domain only), or None: what clients and
    tests branch on instead of the message text."""
    trailing = getattr(error, "trailing_metadata", None)
    for key, value in (trailing() if callable(trailing) else None) or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except DecodeError:
            return None
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.domain == ERROR_DOMAIN:
                try:
                    return Reason(info.reason)
                except ValueError:  # a newer peer's reason
                    return None
    return None


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
    relayed = cls(error.details() or f"{service}: {code.name}", reason_of(error))
    relayed.relayed = True
    return relayed


def undecodable_reason(message_class: object, data: bytes) -> str:
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
            value, pos = data[pos : pos + length], pos + length
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
            elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
                found = _first_invalid_utf8(field.message_type, value, f"{prefix}{field.name}.", depth + 1)
                if found is not None:
                    return found
        else:
            raise _Malformed  # groups (3, 4) are not used by any of our messages
        if pos > len(data):
            raise _Malformed
    return None
