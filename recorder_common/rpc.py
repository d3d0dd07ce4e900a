"""Servicer helpers."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

F = TypeVar("F", bound=Callable[..., Any])


def maps_domain_errors(method: F) -> F:
    """Kept so servicer methods read as before: the identity interceptor
    (recorder_common.identity) now maps errors for every handler shape, in one place."""
    return method


def shielded(method: Callable[[Any, Any, Any], Awaitable[Any]]) -> Callable[[Any, Any, Any], Awaitable[Any]]:
    """Run the body of a unary servicer method to completion even if the client goes away (its
    deadline passed, or it was cancelled): a database transaction is then committed or rolled back
    cleanly instead of being torn apart halfway, which left aiosqlite connections hanging."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: Any) -> Any:
        return await asyncio.shield(asyncio.ensure_future(method(self, request, context)))

    return wrapper


# Wraps a handler function: (the servicer's function, whether requests stream) -> a new function.
Wrapper = Callable[[Any, bool], Any]


def rewrap_handler(handler: Any, unary: Wrapper, stream: Wrapper, request_deserializer: Any = None) -> Any:
    """The same RPC method handler with its function wrapped, for a server interceptor: `unary`
    for unary responses and for streaming ones written with context.write (the health Watch),
    `stream` for async generators. Every handler shape goes through here, so an interceptor
    cannot forget one."""
    args = (request_deserializer or handler.request_deserializer, handler.response_serializer)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(unary(handler.unary_unary, False), *args)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(unary(handler.stream_unary, True), *args)
    streaming = handler.unary_stream is None
    inner = handler.stream_stream if streaming else handler.unary_stream
    wrapped = stream(inner, streaming) if inspect.isasyncgenfunction(inner) else unary(inner, streaming)
    make = grpc.stream_stream_rpc_method_handler if streaming else grpc.unary_stream_rpc_method_handler
    return make(wrapped, *args)


class HandlerInterceptor(grpc.aio.ServerInterceptor):
    """A server interceptor that wraps each method's handler (see rewrap_handler): subclasses say
    how in `wrap`. Methods with no handler stay unanswered here (gRPC answers UNIMPLEMENTED)."""

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
        handler = await continuation(details)
        return None if handler is None else self.wrap(handler, details)

    def wrap(self, handler: Any, details: Any) -> Any:
        raise NotImplementedError
