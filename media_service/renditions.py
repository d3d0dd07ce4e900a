"""Renditions: derived outputs of a READY (watchable) video, made after it is watchable.

The compressed rendition's encode lives here, in one place (CompressedEncode): the command, its
size bound, where its output goes and how it is recorded, for the queued path (RenditionWorker,
from the original after stop) and the live path (media_service/live.py's LiveEncode, fed while
the recording arrives). Outputs that the same encode could also write (HLS) belong in
CompressedEncode too: with an MP4 profile the same ffmpeg also writes CMAF HLS (HlsRun), live
(an EVENT playlist that grows while the recording arrives) or queued (from the original); either
ends VOD with ENDLIST. The HLS is part of the compressed rendition, with its state and progress.

RenditionWorker takes queued renditions from the catalog (ClaimRendition: FIFO within fairness
between owners, under a lease, so several media replicas share the queue) whenever encode
capacity is free (media_service/scheduler.py) and encodes each with every free core. A failed
encode marks the rendition FAILED with ffmpeg's message; the video stays READY.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pathlib
import time
from contextlib import AbstractAsyncContextManager

from media_service import commands, containers
from media_service.catalog_client import AssetRefused, MediaCatalogClient
from media_service.files import MediaFiles, Output, Workspace
from media_service.hls import HlsRun
from media_service.runner import FfmpegFailed, FfmpegLimits, run_ffmpeg
from media_service.scheduler import EncodeCapacity
from media_service.settings import CompressionProfile, MediaLimits
from recorder.v1 import common_pb2
from recorder_common import metrics
from recorder_common.errors import DomainError, FailedPrecondition, NotFound
from recorder_common.vocab import RenditionKind, RenditionState, Step

log = logging.getLogger("recorder.media.renditions")

PROGRESS_INTERVAL_SECONDS = 1.0


class CompressedEncode:
    """The compressed rendition (the compression profile's encode): commands and publishing."""

    kind = RenditionKind.COMPRESSED

    def __init__(self, ffmpeg_binary: str, profile: CompressionProfile, media_limits: MediaLimits) -> None:
        self.ffmpeg = ffmpeg_binary
        self.profile = profile
        self.media_limits = media_limits

    @property
    def file_name(self) -> str:
        return f"compressed.{self.profile.extension}"

    def output(self, ws: Workspace) -> AbstractAsyncContextManager[Output]:
        """Where an encode writes; published when it ends well (check_bound first). Its step is
        one a processing job's sweep spares (files.LONG_LIVED_STEPS): a live encode goes on past it."""
        return ws.output(self.file_name, step=Step.COMPRESS)

    @staticmethod
    def remove_stale(ws: Workspace) -> None:
        """Encodes of this rendition left by an encoder that died: the lease holder's to remove."""
        ws.remove_stale_temporaries(step=Step.COMPRESS)

    @property
    def writes_hls(self) -> bool:
        return commands.hls_supported(self.profile)

    def hls(self, catalog, ws: Workspace) -> HlsRun | None:
        """The HLS this encode writes into the workspace, or None (a profile HLS does not carry)."""
        return HlsRun(catalog, ws, ws.owner_id, ws.video_id) if self.writes_hls else None

    def run_limits(self, limits: FfmpegLimits, duration: float | None) -> FfmpegLimits:
        """The encode's ffmpeg limits. With HLS it writes through the tee muxer, which -fs does not
        bound, so RLIMIT_FSIZE bounds every file at the compressed file's bound."""
        if not self.writes_hls:
            return limits
        seconds = duration if duration is not None else self.media_limits.max_recording_seconds
        return dataclasses.replace(limits, max_file_bytes=commands.compressed_bytes_bound(seconds, self.media_limits))

    def file_args(
        self,
        src: str,
        container: containers.Container,
        dst: str,
        has_video: bool,
        has_audio: bool,
        frame_size: tuple[int, int] | None,
        duration: float | None,
        threads: int,
        hls: HlsRun | None = None,
    ) -> list[str]:
        return commands.compress_args(
            self.ffmpeg,
            src,
            container,
            dst,
            self.profile,
            has_video=has_video,
            has_audio=has_audio,
            max_bytes=commands.compressed_bytes_bound(duration, self.media_limits),
            frame_size=frame_size,
            max_pixels=self.media_limits.max_video_pixels,
            threads=threads,
            hls_folder=str(hls.folder) if hls else None,
        )

    def live_args(
        self,
        container: containers.Container,
        dst: str,
        has_video: bool,
        has_audio: bool,
        frame_size: tuple[int, int] | None,
        hls: HlsRun | None = None,
    ) -> list[str]:
        return commands.live_compress_args(
            self.ffmpeg,
            container,
            dst,
            self.profile,
            has_video,
            has_audio,
            frame_size,
            self.media_limits,
            hls_folder=str(hls.folder) if hls else None,
        )

    def check_bound(self, tmp: pathlib.Path, duration: float | None) -> None:
        """A finished encode at its size bound is discarded (raised before the output publishes)."""
        bound = commands.compressed_bytes_bound(duration, self.media_limits)
        if tmp.stat().st_size >= bound:
            raise FfmpegFailed(f"the output reached its size bound ({bound >> 20} MiB) and was discarded")

    def asset(self, stored: Output) -> common_pb2.Asset:
        """The asset of a published encode, to record with READY."""
        return common_pb2.Asset(
            kind=common_pb2.ASSET_KIND_COMPRESSED,
            content_type=self.profile.content_type,
            size_bytes=stored.size,
            path=stored.key,
        )


class RenditionWorker:
    # What a failed run means to the owner (the rendition's error starts with it).
    failure = "could not compress the recording"

    def __init__(
        self,
        catalog: MediaCatalogClient,
        files: MediaFiles,
        encode: CompressedEncode,
        capacity: EncodeCapacity,
        limits: FfmpegLimits,
        worker_id: str,
        lease_seconds: int,
        poll_seconds: float,
    ) -> None:
        self.catalog, self.files, self.encode = catalog, files, encode
        self.capacity, self.limits = capacity, limits
        self.worker_id, self.lease_seconds, self.poll_seconds = worker_id, lease_seconds, poll_seconds
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task | None = None
        self._encodes: set[asyncio.Task] = set()
        self.finished = 0  # encodes this worker ended (for tests and logs)

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="rendition-queue")

    def wake(self) -> None:
        """Capacity was freed or a video became READY here: look at the queue now."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop taking renditions and stop the running encodes; their leases lapse and the queue
        hands them out again."""
        tasks = [*self._encodes, *([self._loop_task] if self._loop_task else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            threads = self.capacity.try_start_queued()
            claimed = False
            if threads:
                try:
                    claim = await self.catalog.claim_rendition(self.encode.kind, self.worker_id, self.lease_seconds)
                    claimed = claim.claimed
                except DomainError as exc:
                    log.warning("could not ask the catalog for a queued rendition: %s", exc.message)
                if claimed:
                    task = asyncio.create_task(
                        self._encode(claim, threads), name=f"rendition-{claim.video.video_id[:12]}"
                    )
                    self._encodes.add(task)
                    task.add_done_callback(self._encodes.discard)
                    continue  # more capacity may be free
                self.capacity.end_queued(threads)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except asyncio.TimeoutError:
                pass

    async def _encode(self, claim, threads: int) -> None:
        video, owner = claim.video, claim.owner_id
        started = time.monotonic()
        ws = self.files.workspace(owner, video.video_id)
        state, error = RenditionState.FAILED, ""
        try:
            asset = await self._make(ws, owner, video, threads)
            await self.catalog.finish_rendition(
                owner, video.video_id, self.encode.kind, self.worker_id, RenditionState.READY, asset=asset
            )
            state = RenditionState.READY
            log.info(
                "video %s: %s rendition ready in %.1f s (%d threads)",
                video.video_id,
                self.encode.kind.lower(),
                time.monotonic() - started,
                threads,
            )
        except (FailedPrecondition, NotFound) as exc:  # the lease is gone, or the video
            log.info("video %s: %s rendition stopped: %s", video.video_id, self.encode.kind.lower(), exc.message)
            state = None
        except AssetRefused as exc:
            await self.files.remove_key(owner, exc.path)
            error = exc.message
        except FfmpegFailed as exc:
            error = f"{self.failure}: {exc.message}"
        except asyncio.CancelledError:
            state = None
            raise
        except DomainError as exc:  # the catalog is unreachable: the lease lapses, the queue retries
            log.warning("video %s: %s rendition interrupted: %s", video.video_id, self.encode.kind.lower(), exc.message)
            state = None
        except Exception as exc:
            log.exception("video %s: %s rendition crashed", video.video_id, self.encode.kind.lower())
            error = f"internal error: {type(exc).__name__}"
        finally:
            ws.close()
            self.capacity.end_queued(threads)
            self.finished += 1
            self.wake()
        if state is RenditionState.FAILED:
            log.info("video %s: %s rendition failed: %s", video.video_id, self.encode.kind.lower(), error)
            try:
                await self.catalog.finish_rendition(
                    owner, video.video_id, self.encode.kind, self.worker_id, RenditionState.FAILED, error=error
                )
            except DomainError as exc:
                log.warning("video %s: could not record the failed rendition: %s", video.video_id, exc.message)
        if state is not None:
            metrics.RENDITIONS_FINISHED.labels(kind=self.encode.kind.value, path="queued", state=state.value).inc()

    async def _make(self, ws: Workspace, owner: str, video: common_pb2.Video, threads: int) -> common_pb2.Asset:
        original = next((a for a in video.assets if a.kind == common_pb2.ASSET_KIND_ORIGINAL), None)
        if original is None or not video.media.container:
            raise FfmpegFailed("the video has no original to encode from")
        src = await ws.ffmpeg_input(original.path)
        if src is None:
            raise FfmpegFailed("the original is missing from storage")
        media = video.media
        duration = media.duration_seconds or None
        has_video = bool(media.video_codec)
        await asyncio.to_thread(self.encode.remove_stale, ws)
        hls = self.encode.hls(self.catalog, ws)
        if hls is not None:
            await hls.start()
        async with self.encode.output(ws) as out:
            await self._run_leased(
                self.encode.file_args(
                    src,
                    containers.for_muxer(media.container),
                    str(out.tmp),
                    has_video,
                    bool(media.audio_codec),
                    (media.width, media.height) if has_video else None,
                    duration,
                    threads,
                    hls,
                ),
                self.encode.run_limits(self.limits.for_media(duration), duration),
                owner,
                video.video_id,
                duration,
                hls,
            )
            if hls is not None:
                await hls.finish()
            self.encode.check_bound(out.tmp, duration)
        return self.encode.asset(out)

    async def _run_leased(
        self,
        args: list[str],
        limits: FfmpegLimits,
        owner: str,
        video_id: str,
        duration: float | None,
        hls: HlsRun | None = None,
    ) -> None:
        """Runs one rendition's ffmpeg, reporting its progress each PROGRESS_INTERVAL_SECONDS (and
        polling the HLS it writes, if any). Each report renews the lease; one the catalog refuses
        (the lease is gone, the video deleted) raises, which stops the run."""
        done = 0.0  # media seconds encoded so far (ffmpeg's progress)

        def on_progress(seconds: float) -> None:
            nonlocal done
            done = seconds

        run = asyncio.ensure_future(run_ffmpeg(args, limits, on_progress=on_progress))
        try:
            while True:
                fraction = min(done / duration, 0.999) if duration else 0.0
                await self.catalog.report_rendition_progress(
                    owner, video_id, self.encode.kind, self.worker_id, fraction, self.lease_seconds
                )
                await asyncio.wait([run], timeout=PROGRESS_INTERVAL_SECONDS)
                if run.done():
                    break
                if hls is not None:
                    await hls.poll()
            run.result()
        finally:
            if not run.done():
                run.cancel()
                await asyncio.gather(run, return_exceptions=True)


class StoryboardEncode:
    """The storyboard rendition: a sprite sheet of small frames, one every few seconds, and its
    WebVTT of #xywh cues (commands.storyboard_layout), made from the original in one low-resolution
    decode pass. Cheap next to an encode: it has a capacity of its own (STORYBOARD_CORES, 1 by
    default) so it neither waits for nor takes the encode cores."""

    kind = RenditionKind.STORYBOARD
    SPRITE, VTT = "storyboard.jpg", "storyboard.vtt"

    def __init__(self, ffmpeg_binary: str, media_limits: MediaLimits) -> None:
        self.ffmpeg = ffmpeg_binary
        self.media_limits = media_limits


class StoryboardWorker(RenditionWorker):
    """Queued storyboards (RenditionWorker's queue, lease and failure handling; its own _make)."""

    failure = "could not make the storyboard"
    encode: StoryboardEncode  # type: ignore[assignment]

    async def _make(self, ws: Workspace, owner: str, video: common_pb2.Video, threads: int) -> common_pb2.Asset:
        media = video.media
        if not media.video_codec:
            raise FfmpegFailed("the recording has no video track")
        assets = {a.kind: a for a in video.assets}
        sprite = assets.get(common_pb2.ASSET_KIND_STORYBOARD)
        if sprite is not None and common_pb2.ASSET_KIND_STORYBOARD_VTT in assets:
            return sprite  # made on demand before the queue got to it (GetPlaybackUrl)
        original = assets.get(common_pb2.ASSET_KIND_ORIGINAL)
        src = await ws.ffmpeg_input(original.path) if original is not None else None
        container = containers.for_original(original.content_type) if original is not None else None
        if src is None or container is None:
            raise FfmpegFailed("the original is missing from storage")
        duration = media.duration_seconds
        layout = commands.storyboard_layout(duration, media.width, media.height)
        async with ws.output(self.encode.SPRITE, step="STORYBOARD") as sprite:
            await self._run_leased(
                commands.storyboard_args(
                    self.encode.ffmpeg,
                    src,
                    container,
                    str(sprite.tmp),
                    layout,
                    self.encode.media_limits.max_video_pixels,
                ),
                self.limits.for_media(duration or None),
                owner,
                video.video_id,
                duration,
            )
            if not sprite.tmp.exists() or sprite.tmp.stat().st_size == 0:
                raise FfmpegFailed("ffmpeg wrote no sprite sheet")
            # The VTT is recorded and stored first: once the rendition is READY (its asset, the
            # sprite, published as this block ends) both are.
            async with ws.output(self.encode.VTT, step="STORYBOARD") as vtt:
                text = commands.storyboard_vtt(layout, duration, self.encode.SPRITE)
                await asyncio.to_thread(vtt.tmp.write_text, text)
                await self.catalog.put_asset(
                    owner, video.video_id, "STORYBOARD_VTT", vtt.key, "text/vtt", vtt.tmp.stat().st_size
                )
        return common_pb2.Asset(
            kind=common_pb2.ASSET_KIND_STORYBOARD, content_type="image/jpeg", size_bytes=sprite.size, path=sprite.key
        )


class Renditions:
    """Every queued-rendition worker of this process, started, stopped and woken together."""

    def __init__(self, *workers: RenditionWorker) -> None:
        self.workers = workers

    def start(self) -> None:
        for worker in self.workers:
            worker.start()

    def wake(self) -> None:
        for worker in self.workers:
            worker.wake()

    async def stop(self) -> None:
        await asyncio.gather(*(worker.stop() for worker in self.workers))
