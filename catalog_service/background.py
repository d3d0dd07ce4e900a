"""The catalog's own background work: pruning the event feed, and delivering webhooks."""

from __future__ import annotations

import asyncio
import logging

from catalog_service import events
from catalog_service.catalog import Catalog
from catalog_service.settings import CatalogSettings
from catalog_service.webhooks import WebhookDispatcher
from recorder_common import metrics
from recorder_common.tasks import cancel_and_wait

log = logging.getLogger("recorder.catalog.background")


BACKLOG_COUNT_SECONDS = 15.0


class CatalogBackground:
    def __init__(self, catalog: Catalog, settings: CatalogSettings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.dispatcher = WebhookDispatcher(catalog, settings.webhooks) if settings.webhooks.endpoints else None
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._prune_loop(), name="event-pruner"),
            loop.create_task(self._count_backlog_loop(), name="backlog-gauge"),
        ]
        if self.dispatcher is not None:
            self.dispatcher.start()

    async def stop(self) -> None:
        await cancel_and_wait(*self._tasks)
        self._tasks = []
        if self.dispatcher is not None:
            await self.dispatcher.stop()

    async def _prune_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(120):
                    removed = await events.prune(
                        self.catalog.sessions, self.catalog.clock(), self.settings.event_retention_seconds
                    )
                if removed:
                    log.info("pruned %d events older than %g s", removed, self.settings.event_retention_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pruning the event feed failed; trying again next interval")
            await asyncio.sleep(self.settings.event_prune_interval_seconds)

    async def _count_backlog_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(30):
                    metrics.PROCESSING_BACKLOG.set(await self.catalog.count_waiting_for_a_worker())
                    for state, count in (await self.catalog.count_rendition_backlog()).items():
                        metrics.RENDITION_BACKLOG.labels(state=state).set(count)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("counting the processing backlog failed; trying again", exc_info=True)
            await asyncio.sleep(BACKLOG_COUNT_SECONDS)
