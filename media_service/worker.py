"""Runs processing jobs: claims a video's lease in the catalog, runs the pipeline, reports
progress (which renews the lease) and the outcome. A sweep at start and at intervals picks up
videos nobody is processing: uploaded while this service was down, or held by a worker that died.

Jobs wait for one of max_concurrent_jobs slots, admitted round-robin between owners (FairSlots), and
claim their lease only once admitted, so a job waiting here is free for another replica to take.
While a job runs, its lease is renewed about every CHECK_INTERVAL_SECONDS; when the catalog says
the lease is gone (FAILED_PRECONDITION: deleted, or another worker has it; NOT_FOUND), or it could
not be renewed for as long as the lease lasts, the job is cancelled and its ffmpeg stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from typing import TYPE_CHECKING

from media_service.admission import FairSlots
from media_service.catalog_client import AssetRefused, MediaCatalogClient
from media_service.pipeline import HeldAsset, Job, MediaFacts, MediaPipeline, StepFailed
from media_service.runner import FfmpegFailed
from recorder_common import metrics, tracing
from recorder_common.errors import DomainError, FailedPrecondition, NotFound
from recorder_common.identity import request_id
from media_service.files import MediaFiles

if TYPE_CHECKING:
    from media_service.renditions import RenditionWorker

log = logging.getLogger("recorder.media.worker")

PROGRESS_INTERVAL_SECONDS = 0.5
# How often a running job makes sure it still holds its lease (a cheap catalog call); work whose
# video was deleted or whose lease was lost stops within about this plus ffmpeg's stop grace.
CHECK_INTERVAL_SECONDS = 0.5


def ready_breakdown(submitted_at: float, marks: list[tuple[str, float]]) -> str:
    """Each phase from a job's submission to MarkReady (named by the mark that ends it), into
    recorder_ready_phase_seconds, and as one line for the log."""
    parts, previous = [], submitted_at
    for label, at in marks:
        metrics.READY_PHASE_SECONDS.labels(phase=label).observe(at - previous)
        parts.append(f"{label} +{(at - previous) * 1000:.0f} ms")
        previous = at
    return f"{(previous - submitted_at) * 1000:.0f} ms after ProcessVideo ({', '.join(parts)})"


class CatalogReporter:
    """Reports one job's progress, assets and media facts; throttles progress updates."""

    def __init__(self, catalog: MediaCatalogClient, job: Job, worker_id: str, lease_seconds: int) -> None:
        self.catalog, self.job = catalog, job
        self.worker_id, self.lease_seconds = worker_id, lease_seconds
        self.step = "ASSEMBLE"
        self.fraction = 0.0
        self._sent_at = 0.0
        # When the last report that the catalog accepted was sent (each one renews the lease).
        self.renewed_at = time.monotonic()
        self.lost: str | None = None  # why the job must stop, once the lease is gone
        # When each step started and ended (fraction 0 and 1): where the time to READY went.
        self.marks: list[tuple[str, float]] = []
        # While holding: outputs and media facts kept for the READY call (CatalogReporter.hold).
        self.holding = False
        self.held: list[HeldAsset] = []
        self.held_facts: MediaFacts | None = None

    def hold(self, on: bool) -> None:
        self.holding = on

    async def progress(self, step: str, fraction: float) -> None:
        changed = step != self.step
        self.step, self.fraction = step, fraction
        now = time.monotonic()
        if fraction in (0.0, 1.0):
            self.marks.append((step if fraction == 0.0 else f"{step} done", now))
        if self.holding:  # the lease keeper's heartbeat carries the step and fraction
            return
        if changed or fraction in (0.0, 1.0) or now - self._sent_at >= PROGRESS_INTERVAL_SECONDS:
            self._sent_at = now
            await self.heartbeat()

    async def heartbeat(self) -> None:
        sent_at = time.monotonic()
        await self.catalog.report_progress(
            self.job.owner_id, self.job.video_id, self.worker_id, self.step, self.fraction, self.lease_seconds
        )
        self.renewed_at = max(self.renewed_at, sent_at)

    async def asset(self, kind: str, key: str, size: int, content_type: str) -> None:
        if self.holding:
            self.held.append(HeldAsset(kind, key, size, content_type, self.step))
            return
        await self.catalog.put_asset(self.job.owner_id, self.job.video_id, kind, key, content_type, size)

    async def media_info(self, facts: MediaFacts) -> None:
        if self.holding:
            self.held_facts = facts
            return
        await self.catalog.set_media_info(self.job.owner_id, self.job.video_id, facts)

    async def finish_ready(self, worker_id: str) -> None:
        """READY, with what was held, in one catalog call."""
        await self.catalog.finish(
            self.job.owner_id, self.job.video_id, worker_id, ready=True, outputs=self.held, facts=self.held_facts
        )


class MediaWorker:
    def __init__(
        self,
        catalog: MediaCatalogClient,
        pipeline: MediaPipeline,
        files: MediaFiles,
        worker_id: str,
        lease_seconds: int,
        max_concurrent_jobs: int,
        sweep_interval_seconds: float,
        check_interval_seconds: float = CHECK_INTERVAL_SECONDS,
        renditions: "RenditionWorker | None" = None,
    ) -> None:
        # Encodes the queued renditions; started and stopped with this worker, and woken when a
        # video becomes READY here (its renditions are now in the queue).
        self.renditions = renditions
        self.catalog = catalog
        self.pipeline = pipeline
        self.files = files
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.slots = FairSlots(max(1, max_concurrent_jobs))
        self.sweep_interval = sweep_interval_seconds
        self.check_interval = check_interval_seconds
        self._jobs: dict[str, asyncio.Task] = {}  # by video: waiting for a slot or running
        self._sweeper: asyncio.Task | None = None
        # Set when a job ends: the catalog lets each owner process only so many videos at once, so
        # an owner's next upload may have been refused a claim and is waiting; look again at once
        # instead of at the next interval.
        self._job_ended = asyncio.Event()

    async def start(self) -> None:
        await self.files.remove_stale_scratch()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="media-sweep")
        if self.renditions is not None:
            self.renditions.start()

    async def stop(self) -> None:
        """Stop taking work and stop the jobs (their ffmpegs with them). A job cut short keeps its
        lease until it expires; then a worker (this one after a restart, or another replica)
        takes it over."""
        tasks = [*self._jobs.values(), *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.renditions is not None:
            await self.renditions.stop()

    def submit(self, owner_id: str, video_id: str) -> bool:
        if video_id in self._jobs:
            return False
        tracing.remember_origin(video_id)
        self._jobs[video_id] = asyncio.create_task(
            self._admit_and_run(owner_id, video_id, time.monotonic()), name=f"media-job-{video_id[:12]}"
        )
        return True

    async def sweep(self) -> int:
        pending = await self.catalog.list_pending(limit=100)
        return sum(self.submit(ref.owner_id, ref.video_id) for ref in pending)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                found = await self.sweep()
                if found:
                    log.info("sweep queued %d video(s) waiting for processing", found)
            except DomainError as exc:
                log.warning("sweep failed: %s", exc.message)
            try:
                await asyncio.wait_for(self._job_ended.wait(), self.sweep_interval)
            except asyncio.TimeoutError:
                pass
            self._job_ended.clear()

    async def _admit_and_run(self, owner_id: str, video_id: str, submitted_at: float | None = None) -> None:
        token = request_id.set(f"job-{video_id[:12]}")
        job_span = tracing.start_job(video_id)
        ran = False
        try:
            async with self.slots.slot(owner_id):
                ran = await self._run(owner_id, video_id, submitted_at)
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad job must not stop the worker
            log.exception("job for %s crashed", video_id)
        finally:
            self._jobs.pop(video_id, None)
            if ran:  # a claimed job ended: its owner's next upload may be waiting for the slot
                self._job_ended.set()
            tracing.end_job(job_span)
            request_id.reset(token)

    async def _run(self, owner_id: str, video_id: str, submitted_at: float | None = None) -> bool:
        """Process the video if this worker can claim it; returns whether it did."""
        submitted_at = time.monotonic() if submitted_at is None else submitted_at
        claim = await self.catalog.claim(owner_id, video_id, self.worker_id, self.lease_seconds)
        if not claim.claimed:
            log.info("video %s is not waiting for processing (or another worker has it)", video_id)
            return False
        video = claim.video
        job = Job(owner_id=owner_id, video_id=video_id, content_type=video.content_type, last_index=video.last_index)
        reporter = CatalogReporter(self.catalog, job, self.worker_id, self.lease_seconds)
        started = time.monotonic()
        reporter.marks.append(("claimed", started))
        work = asyncio.create_task(self.pipeline.run(job, reporter), name=f"pipeline-{video_id[:12]}")
        keeper = asyncio.create_task(self._keep_lease(reporter, work), name=f"lease-{video_id[:12]}")
        try:
            await asyncio.wait([work])
        except asyncio.CancelledError:  # shutdown: stop the work (and its ffmpeg) before going
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise
        finally:
            keeper.cancel()
        if reporter.lost is not None or work.cancelled():
            if not work.cancelled():
                work.exception()  # retrieved: the work ended on its own as the lease went
            log.info("video %s: processing stopped: %s", video_id, reporter.lost or "cancelled")
            return True
        try:
            work.result()
        except StepFailed as exc:
            log.info("video %s failed at %s: %s", video_id, exc.step, exc.message)
            await self._remove_held(reporter)
            await self.catalog.finish(
                owner_id, video_id, self.worker_id, ready=False, error_step=exc.step, error=exc.message
            )
            return True
        except FfmpegFailed as exc:  # an ffmpeg run no step wrapped (a probe): fail the current step
            log.info("video %s failed at %s: %s", video_id, reporter.step, exc.message)
            await self._remove_held(reporter)
            await self.catalog.finish(
                owner_id, video_id, self.worker_id, ready=False, error_step=reporter.step, error=exc.message
            )
            return True
        except AssetRefused as exc:  # over the owner's quota: the output goes, the job fails
            log.info("video %s failed at %s: %s", video_id, reporter.step, exc.message)
            await self._remove_held(reporter)
            await self.files.remove_key(owner_id, exc.path)
            await self.catalog.finish(
                owner_id, video_id, self.worker_id, ready=False, error_step=reporter.step, error=exc.message
            )
            return True
        except (FailedPrecondition, NotFound) as exc:
            # The catalog refused a report (lease lost, video deleted): nothing to record.
            log.info("video %s: processing stopped: %s", video_id, exc.message)
            return True
        except DomainError:
            raise
        except Exception as exc:
            log.error(
                "video %s: unexpected failure at %s\n%s",
                video_id,
                reporter.step,
                "".join(traceback.format_exception(exc)),
            )
            await self._remove_held(reporter)
            await self.catalog.finish(
                owner_id,
                video_id,
                self.worker_id,
                ready=False,
                error_step=reporter.step,
                error=f"internal error: {type(exc).__name__}",
            )
            return True
        try:
            try:
                await reporter.finish_ready(self.worker_id)
            except AssetRefused:
                # The held outputs are over the owner's quota and none was recorded. Rare: record
                # them one by one, as the batch steps do, to fail at the step whose output is refused.
                if not await self._record_held(reporter):
                    return True
                await self.catalog.finish(owner_id, video_id, self.worker_id, ready=True)
        except (FailedPrecondition, NotFound) as exc:  # lease lost or deleted: nothing recorded
            log.info("video %s: processing stopped: %s", video_id, exc.message)
            return True
        reporter.marks.append(("MarkReady", time.monotonic()))
        log.info("video %s ready: %s", video_id, ready_breakdown(submitted_at, reporter.marks))
        if self.renditions is not None:
            self.renditions.wake()
        # The assembled source now holds every byte; the chunks are no longer needed.
        await self.files.remove_chunks(owner_id, video_id)
        return True

    async def _record_held(self, reporter: CatalogReporter) -> bool:
        """Record the held outputs and facts one call each; False if one was refused (that one
        and those after it are deleted, and the job FAILED at the refused one's step)."""
        job = reporter.job
        for n, held in enumerate(reporter.held):
            try:
                await self.catalog.put_asset(
                    job.owner_id, job.video_id, held.kind, held.key, held.content_type, held.size
                )
            except AssetRefused as exc:
                log.info("video %s failed at %s: %s", job.video_id, held.step, exc.message)
                reporter.held = reporter.held[n:]
                await self._remove_held(reporter)
                await self.catalog.finish(
                    job.owner_id, job.video_id, self.worker_id, ready=False, error_step=held.step, error=exc.message
                )
                return False
        reporter.held = []
        if reporter.held_facts is not None:
            await self.catalog.set_media_info(job.owner_id, job.video_id, reporter.held_facts)
        return True

    async def _remove_held(self, reporter: CatalogReporter) -> None:
        """The held outputs of a job that fails here were never recorded: their files go."""
        for held in reporter.held:
            await self.files.remove_key(reporter.job.owner_id, held.key)
        reporter.held.clear()

    async def _keep_lease(self, reporter: CatalogReporter, work: asyncio.Task) -> None:
        """Renew the lease while the work runs (unless a progress report just did) and stop the
        work as soon as the lease is gone."""
        while not work.done():
            await asyncio.sleep(self.check_interval)
            since = time.monotonic() - reporter.renewed_at
            if since > self.lease_seconds:
                # Not renewed for the lease's length: another worker may hold it by now.
                reporter.lost = f"the lease could not be renewed for {since:.0f} s and has expired"
            elif since >= self.check_interval:
                try:
                    await reporter.heartbeat()
                except (FailedPrecondition, NotFound) as exc:
                    reporter.lost = exc.message
                except DomainError as exc:
                    log.warning("lease renewal failed (will retry): %s", exc.message)
            if reporter.lost is not None:
                work.cancel()
                return
