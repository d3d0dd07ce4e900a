"""Domain errors raised by the plain rule modules; servicers map them to gRPC status codes.

Each error carries the status it becomes and a message a person can act on.
"""
from __future__ import annotations

import grpc


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


def from_rpc_error(error: grpc.aio.AioRpcError, service: str) -> DomainError:
    """Turn a failed outbound call back into a domain error, so a dependency's precise status
    (NOT_FOUND from the catalog, say) reaches our caller unchanged. Anything unexpected becomes
    UNAVAILABLE: the dependency failed, not the caller's request."""
    cls = _BY_CODE.get(error.code())
    if cls is None:
        return Unavailable(f"{service} failed: {error.code().name}: {error.details()}")
    return cls(error.details() or f"{service}: {error.code().name}")
