"""python -m media_service: serve the media worker (settings from the environment)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from media_service.server import MediaDeps, create_server
from media_service.settings import MediaSettings, memory_budget_bytes
from media_service.wiring import build
from recorder_common import serving


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


@contextlib.asynccontextmanager
async def start(settings: MediaSettings) -> AsyncIterator[serving.Running]:
    warn_if_budget_is_small(settings)
    parts = build(settings)
    server, port = await create_server(settings, MediaDeps(parts.worker, parts.ondemand, parts.live, parts.playback))
    await parts.worker.start()
    try:
        yield serving.Running(server, port, on_stop=parts.worker.stop)
    finally:
        await parts.close()


def main() -> None:
    serving.main("media", MediaSettings.from_env, start)


if __name__ == "__main__":
    main()
