"""Who is calling: established once per request by a server interceptor, read by servicers.

Until JWT authentication lands this reads DEVELOPMENT metadata headers, which anyone can set:
  x-user-id:  the end user the call acts for (the owner of uploads and videos)
  x-service:  marks a call from one of our own services (needed by internal-only RPCs)
Never expose a stack in this mode to untrusted networks.
"""
from __future__ import annotations

import contextvars
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import grpc

from recorder_common.errors import FailedPrecondition, PermissionDenied, Unauthenticated
from recorder_common.ids import is_valid_user_id

USER_HEADER = "x-user-id"
SERVICE_HEADER = "x-service"
REQUEST_ID_HEADER = "x-request-id"

log = logging.getLogger("recorder.rpc")


@dataclasses.dataclass(frozen=True)
class Caller:
    user_id: str | None
    service: str | None = None

    def require_user(self) -> str:
        if self.user_id is None:
            raise Unauthenticated("this call needs an end-user identity (x-user-id)")
        return self.user_id

    def require_service(self) -> str:
        if self.service is None:
            raise PermissionDenied("this is an internal RPC: only our own services may call it")
        return self.service


_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_caller() -> Caller:
    caller = _caller.get()
    if caller is None:
        raise FailedPrecondition("no caller identity in this context")
    return caller


def set_caller(caller: Caller | None) -> contextvars.Token:
    return _caller.set(caller)


def outbound_metadata(service: str) -> tuple[tuple[str, str], ...]:
    """Metadata for a call to another of our services, on behalf of the current caller."""
    md: list[tuple[str, str]] = [(SERVICE_HEADER, service), (REQUEST_ID_HEADER, request_id.get())]
    caller = _caller.get()
    if caller is not None and caller.user_id is not None:
        md.append((USER_HEADER, caller.user_id))
    return tuple(md)


def caller_from_metadata(metadata: Sequence[tuple[str, str | bytes]] | None) -> Caller:
    values = {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}
    user = values.get(USER_HEADER)
    service = values.get(SERVICE_HEADER)
    if user is not None and not is_valid_user_id(user):
        raise Unauthenticated("x-user-id must be 1-64 characters of A-Z, a-z, 0-9, _ or -")
    if service is not None and not is_valid_user_id(service):
        raise Unauthenticated("x-service must be 1-64 characters of A-Z, a-z, 0-9, _ or -")
    if user is None and service is None:
        raise Unauthenticated("missing identity: send the x-user-id metadata header (development auth)")
    return Caller(user_id=user, service=service)


# Health and reflection answer anybody: load balancers and grpcurl use them before any login.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


class IdentityInterceptor(grpc.aio.ServerInterceptor):
    """Resolves the caller and a request id for every RPC, logs one line per call, and runs the
    handler with both in context variables. It wraps the handler itself so the variables are set in
    the task that runs it."""

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

        def enter(context: grpc.aio.ServicerContext) -> tuple[contextvars.Token, contextvars.Token]:
            values = {k.lower(): v for k, v in (metadata or ()) if isinstance(v, str)}
            rid = values.get(REQUEST_ID_HEADER) or uuid.uuid4().hex[:16]
            rid_token = request_id.set(rid[:64])
            try:
                caller = caller_from_metadata(metadata)
            except Unauthenticated as exc:
                request_id.reset(rid_token)
                raise exc
            return rid_token, _caller.set(caller)

        def leave(tokens: tuple[contextvars.Token, contextvars.Token], started: float,
                  context: grpc.aio.ServicerContext) -> None:
            code = context.code() if hasattr(context, "code") else None
            log.info("rpc %s done in %.1f ms code=%s", method, (time.monotonic() - started) * 1000,
                     getattr(code, "name", code) or "OK")
            _caller.reset(tokens[1])
            request_id.reset(tokens[0])

        async def deny(context: grpc.aio.ServicerContext, exc: Unauthenticated) -> None:
            log.info("rpc %s refused: %s", method, exc.message)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)

        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary_unary(request, context):
                started = time.monotonic()
                try:
                    tokens = enter(context)
                except Unauthenticated as exc:
                    await deny(context, exc)
                try:
                    return await inner(request, context)
                finally:
                    leave(tokens, started, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary:
            inner_su = handler.stream_unary

            async def stream_unary(request_iterator, context):
                started = time.monotonic()
                try:
                    tokens = enter(context)
                except Unauthenticated as exc:
                    await deny(context, exc)
                try:
                    return await inner_su(request_iterator, context)
                finally:
                    leave(tokens, started, context)

            return grpc.stream_unary_rpc_method_handler(
                stream_unary, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            inner_us = handler.unary_stream

            async def unary_stream(request, context):
                started = time.monotonic()
                try:
                    tokens = enter(context)
                except Unauthenticated as exc:
                    await deny(context, exc)
                try:
                    async for response in inner_us(request, context):
                        yield response
                finally:
                    leave(tokens, started, context)

            return grpc.unary_stream_rpc_method_handler(
                unary_stream, handler.request_deserializer, handler.response_serializer)
        inner_ss = handler.stream_stream

        async def stream_stream(request_iterator, context):
            started = time.monotonic()
            try:
                tokens = enter(context)
            except Unauthenticated as exc:
                await deny(context, exc)
            try:
                async for response in inner_ss(request_iterator, context):
                    yield response
            finally:
                leave(tokens, started, context)

        return grpc.stream_stream_rpc_method_handler(
            stream_stream, handler.request_deserializer, handler.response_serializer)
