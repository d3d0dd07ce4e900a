"""Housekeeping for uploads: abandoned uploads expire (bytes removed, status EXPIRED), deleted
videos' tombstones are purged, READY videos' chunks are forgotten after a grace period (with
any chunk files a media worker that died right after READY left behind), and processing jobs
whose workers died too often end FAILED. Every step is idempotent, so several ingest replicas
may run it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from ingest_service.ports import CatalogPort, ChunkStore
from recorder_common.errors import DomainError, FailedPrecondition, NotFound
from recorder_common.vocab import VideoRef

log = logging.getLogger("recorder.ingest.janitor")


@dataclasses.dataclass(frozen=True)
class JanitorReport:
    expired: int
    purged: int
    chunks_forgotten: int = 0  # READY videos whose chunks were removed and forgotten
    jobs_failed: int = 0  # processing jobs out of attempts, now FAILED


@dataclasses.dataclass(eq=False)  # wiring and settings; a janitor is compared by identity
class Janitor:
    MAX_READY_BATCHES = 50  # per pass, of `batch` READY videos each

    catalog: CatalogPort
    store: ChunkStore
    idle_expiry_seconds: int
    tombstone_grace_seconds: int
    ready_chunks_grace_seconds: int = 3600
    batch: int = 100

    async def run_once(self) -> JanitorReport:
        expired = await self.catalog.expire_stale(self.idle_expiry_seconds, self.batch)
        for ref in expired:
            await self.store.remove_video(ref.owner_id, ref.video_id)
        deleted = await self.catalog.list_deleted(self.tombstone_grace_seconds, self.batch)
        for ref in deleted:
            await self.store.remove_video(ref.owner_id, ref.video_id)
            await self.catalog.purge(ref.owner_id, ref.video_id)
        # Every upload passes through here once, so keep up with the rate of uploads: whole
        # batches until the backlog is done (bounded, so one pass cannot run forever).
        ready: list[VideoRef] = []
        for _ in range(self.MAX_READY_BATCHES):
            batch = await self.catalog.list_ready_with_chunks(self.ready_chunks_grace_seconds, self.batch)
            for ref in batch:
                # Files first: once the rows are gone nothing would point at a leftover file again.
                await self.store.remove_chunks(ref.owner_id, ref.video_id)
                try:
                    await self.catalog.forget_chunks(ref.owner_id, ref.video_id)
                except (NotFound, FailedPrecondition) as exc:  # deleted or reprocessed meanwhile
                    log.info("janitor: chunks of %s not forgotten: %s", ref.video_id, exc.message)
            ready += batch
            if len(batch) < self.batch:
                break
        # Their chunks stay: the owner may retry processing.
        failed = await self.catalog.fail_exhausted_jobs(self.batch)
        if expired or deleted or ready or failed:
            log.info(
                "janitor: %d upload(s) expired, %d deleted video(s) purged, chunks of %d ready "
                "video(s) forgotten, %d job(s) out of attempts failed",
                len(expired),
                len(deleted),
                len(ready),
                len(failed),
            )
        return JanitorReport(len(expired), len(deleted), len(ready), len(failed))

    async def run_forever(self, interval_seconds: float) -> None:
        while True:
            try:
                await self.run_once()
            except DomainError as exc:
                log.warning("janitor pass failed: %s", exc.message)
            await asyncio.sleep(interval_seconds)
