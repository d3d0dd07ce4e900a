"""Servicer helpers: map domain errors to gRPC statuses in one place."""
from __future__ import annotations

import asyncio
import functools
import inspect
import logging

import grpc

from recorder_common.errors import DomainError

log = logging.getLogger("recorder.rpc")


def maps_domain_errors(method):
    """Decorate a servicer method: a DomainError becomes its status code and message; anything else
    is logged with its traceback and becomes INTERNAL without leaking internals to the caller."""
    if inspect.isasyncgenfunction(method):
        @functools.wraps(method)
        async def stream_wrapper(self, request, context):
            try:
                async for item in method(self, request, context):
                    yield item
            except DomainError as exc:
                await context.abort(exc.code, exc.message)

        return stream_wrapper

    @functools.wraps(method)
    async def wrapper(self, request, context):
        try:
            return await method(self, request, context)
        except DomainError as exc:
            await context.abort(exc.code, exc.message)
        except grpc.aio.AbortError:
            raise
        except Exception:
            log.exception("unexpected error in %s", method.__qualname__)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error; see the service log")

    return wrapper


def shielded(method):
    """Run the body of a unary servicer method to completion even if the client goes away (its
    deadline passed, or it was cancelled): a database transaction is then committed or rolled back
    cleanly instead of being torn apart halfway, which left aiosqlite connections hanging."""
    @functools.wraps(method)
    async def wrapper(self, request, context):
        return await asyncio.shield(asyncio.ensure_future(method(self, request, context)))

    return wrapper
