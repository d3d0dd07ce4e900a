"""The catalog's own background work: pruning the event feed, and delivering webhooks."""
from __future__ import annotations

import asyncio
import contextlib
import logging

from catalog_service import events
from catalog_service.catalog import Catalog
from catalog_service.settings import CatalogSettings
from catalog_service.webhooks import WebhookDispatcher

log = logging.getLogger("recorder.catalog.background")


class CatalogBackground:
    def __init__(self, catalog: Catalog, settings: CatalogSettings) -> None:
        self.catalog = catalog
        self.settings = settings
        self.dispatcher = (WebhookDispatcher(catalog, settings.webhooks)
                           if settings.webhooks.endpoints else None)
        self._pruner: asyncio.Task | None = None

    def start(self) -> None:
        self._pruner = asyncio.get_running_loop().create_task(self._prune_loop(), name="event-pruner")
        if self.dispatcher is not None:
            self.dispatcher.start()

    async def stop(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        if self.dispatcher is not None:
            await self.dispatcher.stop()

    async def _prune_loop(self) -> None:
        while True:
            try:
                async with asyncio.timeout(120):
                    removed = await events.prune(self.catalog.sessions, self.catalog.clock(),
                                                 self.settings.event_retention_seconds)
                if removed:
                    log.info("pruned %d events older than %g s", removed, self.settings.event_retention_seconds)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pruning the event feed failed; trying again next interval")
            await asyncio.sleep(self.settings.event_prune_interval_seconds)
