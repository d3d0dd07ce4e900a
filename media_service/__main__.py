"""python -m media_service: serve the media worker (settings from the environment)."""

from __future__ import annotations

import asyncio
import logging
import os

from media_service.server import MediaDeps, create_server
from media_service.settings import MediaSettings, memory_budget_bytes
from media_service.wiring import build
from recorder_common.logs import configure_logging
from recorder_common.metrics import serve_metrics_from_env
from recorder_common.tracing import configure_tracing
from recorder_common.serving import run_until_terminated


def warn_if_budget_is_small(settings: MediaSettings) -> None:
    """Admission waits rather than overcommits; say so when that will serialise the slots."""
    per_run = settings.ffmpeg_max_memory_mb * 1024 * 1024
    slots = settings.max_concurrent_jobs + settings.max_on_demand_jobs + settings.max_live_sessions
    budget = memory_budget_bytes(settings)
    if per_run and budget // per_run < slots:
        logging.getLogger("recorder.media").warning(
            "the ffmpeg memory budget (%d MiB) holds %d run(s) of FFMPEG_MAX_MEMORY_MB=%d at once, fewer "
            "than the %d slots (jobs, on-demand, live): the others wait for memory; lower "
            "FFMPEG_MAX_MEMORY_MB or raise FFMPEG_MEMORY_BUDGET_MB",
            budget >> 20,
            budget // per_run,
            settings.ffmpeg_max_memory_mb,
            slots,
        )


async def serve(settings: MediaSettings) -> None:
    warn_if_budget_is_small(settings)
    parts = build(settings)
    server, port = await create_server(settings, MediaDeps(parts.worker, parts.ondemand, parts.live, parts.playback))
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
