"""Servicer helpers."""
from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

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
