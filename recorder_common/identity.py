"""Who is calling, and may they: established once per request by a server interceptor, read by
servicers.

Before any handler runs, the interceptor verifies the bearer token (recorder_common.auth) and holds
the caller to the RPC's entry in the access policy (recorder_common.policy). Around every handler,
whatever its shape, it maps errors the one way: a DomainError becomes its status, anything else is
logged with the request id and becomes INTERNAL with no exception text. Requests that do not parse
(a text field that is not UTF-8) are INVALID_ARGUMENT.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import grpc

from recorder_common.auth import Authenticator, Caller
from recorder_common import metrics
from recorder_common.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    ResourceExhausted,
    STATUS_DETAILS_KEY,
    Unauthenticated,
    undecodable_reason,
)
from recorder_common.policy import POLICY, Access
from recorder_common.rpc import HandlerInterceptor, rewrap_handler

REQUEST_ID_HEADER = "x-request-id"

log = logging.getLogger("recorder.rpc")


_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_caller() -> Caller:
    caller = _caller.get()
    if caller is None:
        raise FailedPrecondition("no caller identity in this context")
    return caller


def set_caller(caller: Caller | None) -> contextvars.Token[Caller | None]:
    return _caller.set(caller)


def outbound_request_id() -> str:
    """The request id to pass on: the one being served, or a fresh one for background work."""
    rid = request_id.get()
    return rid if rid != "-" else uuid.uuid4().hex[:16]


class UndecodableRequest:
    """Stands in for a request whose bytes did not parse, so the handler wrapper can answer
    INVALID_ARGUMENT (gRPC itself would answer UNKNOWN naming the Python exception class)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def tolerant_deserializer(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None
    message_class = getattr(deserializer, "__self__", None)  # FromString is bound to the class

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # DecodeError; bad bytes are the client's problem, never ours
            return UndecodableRequest(undecodable_reason(message_class, data))

    return deserialize


def authorize(method: str, access: Access | None, caller: Caller) -> None:
    """Hold an identified caller to the RPC's declared access (OPEN never gets here)."""
    if access is Access.PUBLIC:
        if caller.user_id is None:
            raise Unauthenticated("this call needs an end-user token, not a service token alone")
    elif access is Access.INTERNAL:
        if caller.service is None:
            raise PermissionDenied(f"{method} is an internal RPC: only our own services may call it")
    else:
        raise PermissionDenied(f"{method} has no declared access, so nobody may call it")


async def _awaited(result: Any) -> Any:
    # grpc's generated base methods are plain functions; ours are coroutines.
    return await result if inspect.isawaitable(result) else result


async def _checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        if isinstance(request, UndecodableRequest):
            raise InvalidArgument(request.reason)
        yield request


class IdentityInterceptor(HandlerInterceptor):
    """Resolves the caller and a request id for every RPC, enforces the access policy, maps errors,
    logs one line per call, and runs the handler with caller and request id in context variables.
    It wraps the handler itself so the variables are set in the task that runs it."""

    def __init__(self, authenticator: Authenticator, policy: Mapping[str, Access] = POLICY) -> None:
        self.authenticator = authenticator
        self.policy = policy

    def wrap(self, handler: Any, details: grpc.HandlerCallDetails) -> Any:
        method = details.method
        metadata = details.invocation_metadata
        access = self.policy.get(method)
        if access is None:
            log.error("rpc %s has a handler but no entry in recorder_common/policy.py: refused", method)
        is_open = access is Access.OPEN

        @contextlib.asynccontextmanager
        async def scope(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
            values = {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}
            rid = (values.get(REQUEST_ID_HEADER) or uuid.uuid4().hex[:16])[:64]
            rid_token = request_id.set(rid)
            caller_token = None
            started = time.monotonic()
            try:
                try:
                    if not is_open:
                        caller = self.authenticator.identify(metadata)
                        authorize(method, access, caller)
                        caller_token = _caller.set(caller)
                    yield
                except grpc.aio.AbortError:
                    raise  # the handler chose its status itself
                except NotImplementedError:
                    # A servicer base method nobody overrode (grpc's generated default raises this).
                    await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented here")
                except DomainError as exc:
                    if isinstance(exc, ResourceExhausted) and not exc.relayed:
                        metrics.refused(exc.reason)
                    if isinstance(exc, (Unauthenticated, PermissionDenied)):
                        log.info("rpc %s refused: %s", method, exc.message)
                    await context.abort(
                        exc.code, exc.message, trailing_metadata=((STATUS_DETAILS_KEY, exc.status_details()),)
                    )
                except Exception:
                    # The traceback stays here; the caller gets the request id to quote.
                    log.exception("rpc %s failed unexpectedly (request id %s)", method, rid)
                    await context.abort(
                        grpc.StatusCode.INTERNAL, f"internal error (request id {rid}); the service log has the details"
                    )
                finally:
                    if caller_token is not None:
                        _caller.reset(caller_token)
                    if not is_open:  # health checks every few seconds would drown the log
                        code = context.code() if hasattr(context, "code") else None
                        log.info(
                            "rpc %s done in %.1f ms code=%s",
                            method,
                            (time.monotonic() - started) * 1000,
                            getattr(code, "name", code) or "OK",
                        )
            finally:
                request_id.reset(rid_token)

        def request_of(request_or_iterator: Any, streaming: bool) -> Any:
            if streaming:
                return _checked(request_or_iterator)
            if isinstance(request_or_iterator, UndecodableRequest):
                raise InvalidArgument(request_or_iterator.reason)
            return request_or_iterator

        def unary_response(inner: Any, streaming_request: bool) -> Any:
            async def handle(request_or_iterator: Any, context: Any) -> Any:
                async with scope(context):
                    return await _awaited(inner(request_of(request_or_iterator, streaming_request), context))

            return handle

        def stream_response(inner: Any, streaming_request: bool) -> Any:
            async def handle(request_or_iterator: Any, context: Any) -> Any:
                async with scope(context):
                    responses = inner(request_of(request_or_iterator, streaming_request), context)
                    try:
                        async for response in responses:
                            yield response
                    finally:
                        await responses.aclose()  # its own finally runs now, not when collected

            return handle

        return rewrap_handler(
            handler, unary_response, stream_response, tolerant_deserializer(handler.request_deserializer)
        )
