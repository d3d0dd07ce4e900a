"""Plain HTTP requests for the playback tests (share pages, /play/ files, ranges): the path sent
exactly as given. Shared by several test modules; not a test module itself."""

from __future__ import annotations

import asyncio
import http.client

from recorder_common import defaults


def http_get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    """One request with the path exactly as given (no client-side normalisation of .. or %2e)."""
    connection = http.client.HTTPConnection(defaults.HOST, port, timeout=30)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        connection.close()


async def get(port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"):
    return await asyncio.to_thread(http_get, port, path, headers, method)
