"""Follows the catalog's event feed for the share links this process serves.

The playback server remembers what ResolveShareLink said of a link (playback.LinkCache). That is
safe only while this process hears at once when the answer changes, so one WatchEvents stream per
process follows, from the newest event on: share_link.revoked evicts the link, and any change to a
video (ready, failed, deleted, expired, a new rendition) evicts every link of that video. The cache
remembers nothing until the stream is established (the catalog sends its initial metadata once
the starting cursor is fixed) and forgets everything when it breaks, so a revocation committed
while nobody listened is never missed: it is read from the catalog on the next request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol
from recorder_common.tasks import cancel_and_wait

log = logging.getLogger("recorder.media.link_feed")

SHARE_LINK_REVOKED = "share_link.revoked"
# Changes to a video that change what its links show or whether they work.
VIDEO_CHANGES = (
    "video.ready",
    "video.failed",
    "video.retried",
    "video.deleted",
    "video.expired",
    "rendition.ready",
    "rendition.failed",
)
LINK_EVENT_TYPES = (SHARE_LINK_REVOKED, *VIDEO_CHANGES)


class EventSource(Protocol):
    def follow_events(
        self, types: tuple[str, ...], on_open: Callable[[], None]
    ) -> AsyncIterator[tuple[str, str, str]]: ...


class Evicts(Protocol):
    def set_following(self, following: bool) -> None: ...
    def evict_link(self, link_id: str) -> None: ...
    def evict_video(self, video_id: str) -> None: ...


class LinkFeed:
    def __init__(
        self, catalog: EventSource, cache: Evicts, first_retry_seconds: float = 0.1, max_retry_seconds: float = 5.0
    ) -> None:
        self.catalog = catalog
        self.cache = cache
        self.first_retry_seconds = first_retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.connections = 0  # streams established, for tests
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="link-feed")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self.cache.set_following(False)

    def _opened(self) -> None:
        self.connections += 1
        self.cache.set_following(True)

    def apply(self, event_type: str, video_id: str, link_id: str) -> None:
        if event_type == SHARE_LINK_REVOKED:
            self.cache.evict_link(link_id)
        self.cache.evict_video(video_id)

    async def _run(self) -> None:
        delay = self.first_retry_seconds
        while True:
            try:
                async for event_type, video_id, link_id in self.catalog.follow_events(LINK_EVENT_TYPES, self._opened):
                    self.apply(event_type, video_id, link_id)
                    delay = self.first_retry_seconds
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("following share link events failed (%s); caching no link state until back", exc)
            finally:
                self.cache.set_following(False)
            await asyncio.sleep(delay)  # back off before reconnecting
            delay = min(delay * 2, self.max_retry_seconds)
