"""python -m ingest_service: serve the upload engine (settings from the environment)."""

from __future__ import annotations

import asyncio
import os

from ingest_service.server import IngestDeps, create_server
from ingest_service.settings import IngestSettings
from ingest_service.wiring import build
from recorder_common.logs import configure_logging
from recorder_common.metrics import serve_metrics_from_env
from recorder_common.tracing import configure_tracing
from recorder_common.serving import run_until_terminated


async def serve(settings: IngestSettings) -> None:
    parts = build(settings)
    server, port = await create_server(settings, IngestDeps(parts.engine))
    janitor = asyncio.create_task(parts.janitor.run_forever(settings.janitor_interval_seconds))
    try:
        await run_until_terminated(server, "ingest", port)
    finally:
        janitor.cancel()
        await parts.close()


def main() -> None:
    settings = IngestSettings.from_env(os.environ)
    configure_logging("ingest", settings.log_level)
    serve_metrics_from_env(os.environ)
    configure_tracing("ingest", os.environ)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
