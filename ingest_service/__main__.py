"""python -m ingest_service: serve the upload engine (settings from the environment)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ingest_service.server import IngestDeps, create_server
from ingest_service.settings import IngestSettings
from ingest_service.wiring import build
from recorder_common import serving


@contextlib.asynccontextmanager
async def start(settings: IngestSettings) -> AsyncIterator[serving.Running]:
    parts = build(settings)
    server, port = await create_server(settings, IngestDeps(parts.engine))
    janitor = asyncio.create_task(parts.janitor.run_forever(settings.janitor_interval_seconds))
    try:
        yield serving.Running(server, port)
    finally:
        janitor.cancel()
        await parts.close()


def main() -> None:
    serving.main("ingest", IngestSettings.from_env, start)


if __name__ == "__main__":
    main()
