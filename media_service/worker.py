"""Runs processing jobs: claims a video's lease in the catalog, runs the pipeline, reports
progress (which renews the lease) and the outcome. A sweep at start and at intervals picks up
videos nobody is processing: uploaded while this service was down, or held by a worker that died."""
from __future__ import annotations

import asyncio
import logging
import time
import traceback

from media_service.catalog_client import AssetRefused, MediaCatalogClient
from media_service.pipeline import Job, MediaFacts, MediaPipeline, StepFailed
from media_service.runner import FfmpegFailed
from recorder_common import tracing
from recorder_common.errors import DomainError
from recorder_common.identity import request_id
from media_service.files import MediaFiles

log = logging.getLogger("recorder.media.worker")

PROGRESS_INTERVAL_SECONDS = 0.5


class CatalogReporter:
    """Reports one job's progress, assets and media facts; throttles progress updates."""

    def __init__(self, catalog: MediaCatalogClient, job: Job, worker_id: str, lease_seconds: int) -> None:
        self.catalog, self.job = catalog, job
        self.worker_id, self.lease_seconds = worker_id, lease_seconds
        self.step = "ASSEMBLE"
        self.fraction = 0.0
        self._sent_at = 0.0

    async def progress(self, step: str, fraction: float) -> None:
        changed = step != self.step
        self.step, self.fraction = step, fraction
        now = time.monotonic()
        if changed or fraction in (0.0, 1.0) or now - self._sent_at >= PROGRESS_INTERVAL_SECONDS:
            self._sent_at = now
            await self.heartbeat()

    async def heartbeat(self) -> None:
        await self.catalog.report_progress(self.job.owner_id, self.job.video_id, self.worker_id,
                                           self.step, self.fraction, self.lease_seconds)

    async def asset(self, kind: str, key: str, size: int, content_type: str) -> None:
        await self.catalog.put_asset(self.job.owner_id, self.job.video_id, kind, key, content_type, size)

    async def media_info(self, facts: MediaFacts) -> None:
        await self.catalog.set_media_info(self.job.owner_id, self.job.video_id, facts)


class MediaWorker:
    def __init__(self, catalog: MediaCatalogClient, pipeline: MediaPipeline, files: MediaFiles,
                 worker_id: str, lease_seconds: int, max_concurrent_jobs: int,
                 sweep_interval_seconds: float) -> None:
        self.catalog = catalog
        self.pipeline = pipeline
        self.files = files
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.max_concurrent = max(1, max_concurrent_jobs)
        self.sweep_interval = sweep_interval_seconds
        self._queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self._queued: set[str] = set()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self.files.remove_stale_scratch()
        self._tasks = [asyncio.create_task(self._consume(), name=f"media-job-{i}")
                       for i in range(self.max_concurrent)]
        self._tasks.append(asyncio.create_task(self._sweep_forever(), name="media-sweep"))

    async def stop(self) -> None:
        """Stop taking work. A job cut short keeps its lease until it expires; then a worker
        (this one after a restart, or another replica) takes it over."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def submit(self, owner_id: str, video_id: str) -> bool:
        if video_id in self._queued:
            return False
        self._queued.add(video_id)
        tracing.remember_origin(video_id)
        self._queue.put_nowait((owner_id, video_id))
        return True

    async def sweep(self) -> int:
        pending = await self.catalog.list_pending(limit=100)
        return sum(self.submit(owner, video) for video, owner in pending)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                found = await self.sweep()
                if found:
                    log.info("sweep queued %d video(s) waiting for processing", found)
            except DomainError as exc:
                log.warning("sweep failed: %s", exc.message)
            await asyncio.sleep(self.sweep_interval)

    async def _consume(self) -> None:
        while True:
            owner_id, video_id = await self._queue.get()
            token = request_id.set(f"job-{video_id[:12]}")
            job_span = tracing.start_job(video_id)
            try:
                await self._run(owner_id, video_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad job must not stop the worker
                log.exception("job for %s crashed", video_id)
            finally:
                self._queued.discard(video_id)
                tracing.end_job(job_span)
                request_id.reset(token)

    async def _run(self, owner_id: str, video_id: str) -> None:
        claim = await self.catalog.claim(owner_id, video_id, self.worker_id, self.lease_seconds)
        if not claim.claimed:
            log.info("video %s is not waiting for processing (or another worker has it)", video_id)
            return
        video = claim.video
        job = Job(owner_id=owner_id, video_id=video_id, content_type=video.content_type,
                  last_index=video.last_index)
        reporter = CatalogReporter(self.catalog, job, self.worker_id, self.lease_seconds)
        heartbeat = asyncio.create_task(self._heartbeat(reporter))
        started = time.monotonic()
        try:
            await self.pipeline.run(job, reporter)
        except StepFailed as exc:
            log.info("video %s failed at %s: %s", video_id, exc.step, exc.message)
            await self.catalog.finish(owner_id, video_id, self.worker_id, ready=False,
                                      error_step=exc.step, error=exc.message)
            return
        except FfmpegFailed as exc:  # an ffmpeg run no step wrapped (a probe): fail the current step
            log.info("video %s failed at %s: %s", video_id, reporter.step, exc.message)
            await self.catalog.finish(owner_id, video_id, self.worker_id, ready=False,
                                      error_step=reporter.step, error=exc.message)
            return
        except AssetRefused as exc:  # over the owner's quota: the output goes, the job fails
            log.info("video %s failed at %s: %s", video_id, reporter.step, exc.message)
            await self.files.delete_key(owner_id, exc.path)
            await self.catalog.finish(owner_id, video_id, self.worker_id, ready=False,
                                      error_step=reporter.step, error=exc.message)
            return
        except DomainError:
            raise  # the catalog refused (lease lost, video deleted): nothing to record
        except Exception as exc:
            log.error("video %s: unexpected failure at %s\n%s", video_id, reporter.step,
                      traceback.format_exc())
            await self.catalog.finish(owner_id, video_id, self.worker_id, ready=False,
                                      error_step=reporter.step, error=f"internal error: {type(exc).__name__}")
            return
        finally:
            heartbeat.cancel()
        await self.catalog.finish(owner_id, video_id, self.worker_id, ready=True)
        # The assembled source now holds every byte; the chunks are no longer needed.
        await self.files.delete_chunks(owner_id, video_id)
        log.info("video %s ready in %.1f s", video_id, time.monotonic() - started)

    async def _heartbeat(self, reporter: CatalogReporter) -> None:
        while True:
            await asyncio.sleep(max(self.lease_seconds / 3, 1))
            try:
                await reporter.heartbeat()
            except DomainError as exc:
                log.warning("lease renewal failed: %s", exc.message)
