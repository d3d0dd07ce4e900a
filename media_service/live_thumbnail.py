"""The thumbnail of a recording, made while it arrives, so READY at stop needs no decode.

The rule (thumbnail_due, pure): the first thumbnail once `first_seconds` of media have arrived,
then a new one each time the arrived media has doubled since the last. Each is the stop-time
thumbnail's command (commands.thumbnail_args: ffmpeg's thumbnail filter over candidate_frames
frames, from commands.thumbnail_time of the length so far, i.e. a quarter in), decoded from the live
session's source file, the in-order prefix of the upload as it grows. So a recording of L >=
first_seconds seconds ends with a thumbnail picked from between L/8 and L/4 in (the stop-time
rule's L/4), made at most log2(L / first_seconds) + 1 times. A recording shorter than
first_seconds (a clip under 2 s among them), or one whose runs all failed, gets its thumbnail at
stop as before (MediaPipeline.make_thumbnail).

Bounds: one run per session at a time, at most `max_running` over all sessions (each decodes a few
dozen frames), with the stop-time thumbnail's sandbox and memory bound, niced below ingest and the
remuxes but above the encodes. A failed run is logged and the next due one tries again: the
live thumbnail is an optimisation, never a requirement.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pathlib
from collections.abc import Callable

from media_service import commands
from media_service.containers import Container
from media_service.probe import ProbeResult
from media_service.runner import FfmpegFailed, FfmpegLimits, run_ffmpeg
from media_service.settings import MediaLimits, ThumbnailSettings
from recorder_common import metrics

log = logging.getLogger("recorder.media.live_thumbnail")

# Below ingest and the live remuxes (0), above the encodes (MEDIA_ENCODE_NICENESS, 10).
THUMBNAIL_NICENESS = 5


def thumbnail_due(arrived_seconds: float, made_at: float | None, first_seconds: float) -> bool:
    """Whether a live thumbnail is due: the first once first_seconds have arrived, then each time
    the arrived media has doubled since the last one was made (made_at: the arrived length then)."""
    if first_seconds <= 0 or arrived_seconds < first_seconds:
        return False
    return made_at is None or arrived_seconds >= 2 * made_at


class LiveThumbnails:
    """What live thumbnails share: the command's settings, and the bound on runs at once."""

    def __init__(
        self,
        ffmpeg_binary: str,
        settings: ThumbnailSettings,
        limits: FfmpegLimits,
        media_limits: MediaLimits = MediaLimits(),
        first_seconds: float = 4.0,
        max_running: int = 2,
    ) -> None:
        self.ffmpeg_binary, self.settings, self.media_limits = ffmpeg_binary, settings, media_limits
        self.limits = dataclasses.replace(limits.quick().still(), niceness=THUMBNAIL_NICENESS)
        self.first_seconds = first_seconds
        self.slots = asyncio.Semaphore(max(1, max_running))
        self.made = 0  # thumbnails made (for tests and logs)

    def follow(
        self, source: pathlib.Path, container: Container, probe: ProbeResult, dst: pathlib.Path
    ) -> "LiveThumbnail":
        return LiveThumbnail(self, source, container, probe, dst)


class LiveThumbnail:
    """One session's thumbnail: poke() after each chunk; dst holds the newest one made."""

    def __init__(
        self, shared: LiveThumbnails, source: pathlib.Path, container: Container, probe: ProbeResult, dst: pathlib.Path
    ) -> None:
        self.shared, self.source, self.container, self.probe, self.dst = shared, source, container, probe, dst
        self.made_at: float | None = None  # the arrived media when the newest thumbnail was made
        self._task: asyncio.Task | None = None
        video = probe.video
        self.fps = video.fps if video is not None and video.fps else 30.0

    @property
    def ready(self) -> pathlib.Path | None:
        return self.dst if self.made_at is not None and self.dst.exists() else None

    def poke(self, arrived_seconds: float, on_made: Callable[[], None] = lambda: None) -> None:
        if self.probe.video is None or (self._task is not None and not self._task.done()):
            return
        if not thumbnail_due(arrived_seconds, self.made_at, self.shared.first_seconds):
            return
        self._task = asyncio.create_task(self._make(arrived_seconds), name=f"live-thumbnail-{self.dst.parent.name}")

    async def settle(self) -> pathlib.Path | None:
        """At stop: the thumbnail made so far. A run in flight is awaited when there is none yet
        (it is further along than a new one would be), else stopped."""
        if self._task is not None and not self._task.done():
            if self.made_at is None:
                await asyncio.gather(self._task, return_exceptions=True)
            else:
                await self.cancel()
        return self.ready

    async def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _make(self, arrived_seconds: float) -> None:
        shared = self.shared
        # A hidden .tmp name, so a job's sweep of stale temporaries takes it if this process dies.
        tmp = self.dst.with_name(f"{self.dst.name.removesuffix('.tmp')}.next.tmp")
        at = commands.thumbnail_time(arrived_seconds, shared.settings.candidate_frames, self.fps)
        try:
            async with shared.slots:
                await run_ffmpeg(
                    commands.thumbnail_args(
                        shared.ffmpeg_binary,
                        str(self.source),
                        self.container,
                        str(tmp),
                        at,
                        shared.settings,
                        shared.media_limits.max_video_pixels,
                    ),
                    shared.limits,
                )
            if tmp.exists() and tmp.stat().st_size > 0:
                await asyncio.to_thread(os.replace, tmp, self.dst)
                self.made_at = arrived_seconds
                shared.made += 1
                metrics.LIVE_THUMBNAILS.labels(outcome="made").inc()
            else:
                metrics.LIVE_THUMBNAILS.labels(outcome="empty").inc()
        except (FfmpegFailed, OSError) as exc:
            metrics.LIVE_THUMBNAILS.labels(outcome="failed").inc()
            log.info("live thumbnail of %s at %.1f s failed (retried when due): %s", self.source, at, exc)
        finally:
            tmp.unlink(missing_ok=True)
