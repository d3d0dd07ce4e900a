"""python -m media_service: serve the media worker (settings from the environment)."""
from __future__ import annotations

import asyncio
import os

from media_service.server import MediaDeps, create_server
from media_service.settings import MediaSettings
from media_service.wiring import build
from recorder_common.logs import configure_logging
from recorder_common.metrics import serve_metrics_from_env
from recorder_common.tracing import configure_tracing
from recorder_common.serving import run_until_terminated


async def serve(settings: MediaSettings) -> None:
    parts = build(settings)
    server, port = await create_server(settings, MediaDeps(parts.worker, parts.ondemand, parts.live))
    await parts.worker.start()
    try:
        await run_until_terminated(server, "media", port, on_stop=parts.worker.stop)
    finally:
        await parts.close()


def main() -> None:
    settings = MediaSettings.from_env(os.environ)
    configure_logging("media", settings.log_level)
    serve_metrics_from_env(os.environ)
    configure_tracing("media", os.environ)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
