"""Who is calling: established once per request by a server interceptor, read by servicers.

The interceptor verifies the bearer token (recorder_common.auth) before any handler runs; health
and reflection stay open for load balancers and grpcurl.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import grpc

from recorder_common.auth import Authenticator, Caller
from recorder_common.errors import FailedPrecondition, Unauthenticated

REQUEST_ID_HEADER = "x-request-id"

log = logging.getLogger("recorder.rpc")


_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_caller() -> Caller:
    caller = _caller.get()
    if caller is None:
        raise FailedPrecondition("no caller identity in this context")
    return caller


def set_caller(caller: Caller | None) -> contextvars.Token:
    return _caller.set(caller)


def outbound_request_id() -> str:
    """The request id to pass on: the one being served, or a fresh one for background work."""
    rid = request_id.get()
    return rid if rid != "-" else uuid.uuid4().hex[:16]


# Health and reflection answer anybody: load balancers and grpcurl use them before any login.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class IdentityInterceptor(grpc.aio.ServerInterceptor):
    """Resolves the caller and a request id for every RPC, logs one line per call, and runs the
    handler with both in context variables. It wraps the handler itself so the variables are set in
    the task that runs it."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(OPEN_PREFIXES):
            return handler
        method = details.method
        metadata = details.invocation_metadata

        @contextlib.asynccontextmanager
        async def scope(context: grpc.aio.ServicerContext):
            values = {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}
            rid_token = request_id.set((values.get(REQUEST_ID_HEADER) or uuid.uuid4().hex[:16])[:64])
            started = time.monotonic()
            try:
                try:
                    caller = self.authenticator.identify(metadata)
                except Unauthenticated as exc:
                    log.info("rpc %s refused: %s", method, exc.message)
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)
                caller_token = _caller.set(caller)
                try:
                    yield
                finally:
                    _caller.reset(caller_token)
                    code = context.code() if hasattr(context, "code") else None
                    log.info("rpc %s done in %.1f ms code=%s", method,
                             (time.monotonic() - started) * 1000, getattr(code, "name", code) or "OK")
            finally:
                request_id.reset(rid_token)

        def unary_response(inner):
            async def handle(request_or_iterator, context):
                async with scope(context):
                    return await inner(request_or_iterator, context)
            return handle

        def stream_response(inner):
            async def handle(request_or_iterator, context):
                async with scope(context):
                    async for response in inner(request_or_iterator, context):
                        yield response
            return handle

        args = (handler.request_deserializer, handler.response_serializer)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(unary_response(handler.unary_unary), *args)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(unary_response(handler.stream_unary), *args)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(stream_response(handler.unary_stream), *args)
        return grpc.stream_stream_rpc_method_handler(stream_response(handler.stream_stream), *args)
