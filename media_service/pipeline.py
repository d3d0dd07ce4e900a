"""The processing steps that make one uploaded video watchable (READY): assemble, probe, remux,
thumbnail. No encode: the compressed rendition is made by a live encode or from the queue
(media_service/renditions.py), after or alongside this.

Each step writes its output through Workspace.output (media_service/files.py): a temporary name,
published only when the step succeeds, so a step that is run again (a retry, or a worker that took
over an expired lease) never sees half a file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pathlib
from typing import Protocol

from media_service import commands, containers
from media_service.containers import Container
from media_service.live import LiveFailed, LiveOutputs, LiveSession, LiveSessions
from media_service.formats import declared_family, found_family, original_format, source_name
from media_service.probe import (
    ProbeResult,
    describes_streams,
    parse_last_progress,
    parse_probe,
    sanitise_ffmpeg_message,
)
from media_service.runner import FfmpegFailed, FfmpegLimits, run_ffmpeg
from media_service.settings import CompressionProfile, MediaLimits, ThumbnailSettings
from media_service.files import MediaFiles, Output, Workspace
from recorder_common import metrics
from recorder_common.vocab import Step

log = logging.getLogger("recorder.media.pipeline")


class StepFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


@dataclasses.dataclass(frozen=True)
class Job:
    owner_id: str
    video_id: str
    content_type: str
    last_index: int


@dataclasses.dataclass(frozen=True)
class MediaFacts:
    duration_seconds: float | None
    width: int | None
    height: int | None
    video_codec: str | None
    audio_codec: str | None
    container: str | None


@dataclasses.dataclass(frozen=True)
class HeldAsset:
    """An output reported while the reporter holds its reports (sent with the job's READY)."""

    kind: str
    key: str
    size: int
    content_type: str
    step: str  # the step that made it: where the job fails if the catalog refuses it


class JobReporter(Protocol):
    async def progress(self, step: str, fraction: float) -> None: ...

    async def asset(self, kind: str, key: str, size: int, content_type: str) -> None: ...

    async def media_info(self, facts: MediaFacts) -> None: ...

    def hold(self, on: bool) -> None:
        """While on, outputs and media facts are kept to travel with the job's READY, and step
        changes are not sent (the lease's heartbeat still carries the latest)."""


@dataclasses.dataclass(frozen=True)
class StreamExtent:
    """What reading every packet of a file found: the last timestamp and the video frames."""

    seconds: float | None
    frames: int | None


def reconcile_duration(claimed: float | None, extent_seconds: float | None) -> float | None:
    """The duration to record: the container's claim unless the stream's own last timestamp
    disagrees (by more than a second or 5 %): a claim is metadata anyone can write."""
    if extent_seconds is None:
        return claimed
    if claimed is None or abs(claimed - extent_seconds) > max(1.0, 0.05 * extent_seconds):
        return extent_seconds
    return claimed


def media_limit_refusal(probe: ProbeResult, extent: StreamExtent, limits: MediaLimits) -> str | None:
    """Why a recording is over the limits, from its real stream (None when it is within them)."""
    seconds = extent.seconds if extent.seconds is not None else probe.duration_seconds
    if seconds is not None and seconds > limits.max_recording_seconds:
        return f"the recording is longer than the {limits.max_recording_seconds / 3600:g} h this service accepts"
    video = probe.video
    if video is None:
        return None
    width, height = video.width or 0, video.height or 0
    if width * height > limits.max_video_pixels:
        return (
            f"its video is {width}x{height}, more than the {limits.max_video_pixels / 1e6:.1f} "
            f"megapixels per frame this service accepts"
        )
    estimated = (video.fps or 0.0) * (seconds or 0.0)
    frames = max(estimated, float(extent.frames or 0))
    if width * height * frames > limits.max_decoded_pixels:
        return (
            f"its video ({width}x{height}, {frames:.0f} frames) is more than this service decodes "
            f"for one recording ({limits.max_decoded_pixels / 1e12:.2f} terapixels)"
        )
    return None


def read_matroska_duration(path: pathlib.Path) -> float | None:
    with open(path, "rb") as f:
        return containers.matroska_duration(f.read(containers.MATROSKA_HEADER_BYTES))


def read_container(path: pathlib.Path) -> Container | None:
    with open(path, "rb") as f:
        return containers.sniff(f.read(containers.SNIFF_BYTES))


class MediaPipeline:
    def __init__(
        self,
        files: MediaFiles,
        ffmpeg_binary: str,
        profile: CompressionProfile,
        thumbnail: ThumbnailSettings,
        limits: FfmpegLimits,
        live: LiveSessions | None = None,
        media_limits: MediaLimits = MediaLimits(),
    ) -> None:
        self.files = files
        self.ffmpeg = ffmpeg_binary
        self.profile = profile
        self.thumbnail = thumbnail
        self.limits = limits
        self.live = live
        self.media_limits = media_limits

    async def run(self, job: Job, reporter: JobReporter) -> None:
        ws = self.files.workspace(job.owner_id, job.video_id)
        try:
            await self._run(job, ws, reporter)
        finally:
            ws.close()

    async def _run(self, job: Job, ws: Workspace, reporter: JobReporter) -> None:
        session = self.live.take(job.video_id) if self.live is not None else None
        if session is not None:
            # The live path's stop is a few quick steps: one catalog call at the end records them.
            reporter.hold(True)
            try:
                outputs = await self._finish_live(session, job, reporter)
            except LiveFailed as exc:
                if exc.final:  # over its CPU bound: the batch path would only spend it again
                    raise StepFailed("REMUX", f"could not rewrite the recording: {exc}") from exc
                log.warning("live path of %s lost (%s): processing the stored chunks", job.video_id, exc)
                self.live.decline(job.video_id, f"lost at the end: {exc}")
                reporter.hold(False)  # the batch steps are long: each reports as it goes
            else:
                self.live.finished += 1
                await self.publish_live(job, ws, outputs, reporter)
                # A session of a process that died may have left its files; this job holds the lease.
                await asyncio.to_thread(ws.remove_stale_temporaries)
                return
            finally:
                session.workspace.close()  # its outputs, if any, were moved into ws
        await asyncio.to_thread(ws.remove_stale_temporaries)
        source = await self.assemble(job, ws, reporter)
        probe = await self.probe(job, source, reporter)
        original, probe = await self.remux(job, ws, source, probe, reporter)
        if probe.video is not None:
            await self.make_thumbnail(job, ws, original, probe, reporter)

    @staticmethod
    async def _report(reporter: JobReporter, kind: str, stored: Output, content_type: str) -> None:
        await reporter.asset(kind, stored.key, stored.size, content_type)

    @metrics.timed_step("ASSEMBLE")  # the live session's catch-up is this upload's assembly
    async def _finish_live(self, session: LiveSession, job: Job, reporter: JobReporter) -> LiveOutputs:
        """Wait for the live session to take the rest of the chunks, reporting how far it got (which
        also keeps the job's lease while an upload that came in faster than realtime catches up)."""
        await reporter.progress("ASSEMBLE", 0.0)
        finishing = asyncio.ensure_future(session.finish(job.last_index))
        try:
            while not finishing.done():
                await asyncio.wait([finishing], timeout=1.0)
                await reporter.progress("ASSEMBLE", min(session.fed / (job.last_index + 1), 0.999))
        except BaseException:
            # The job stops (lease lost, shutdown): its session's ffmpeg and files go with it.
            await session.abandon()
            finishing.cancel()
            await asyncio.gather(finishing, return_exceptions=True)
            raise
        return finishing.result()

    async def publish_live(self, job: Job, ws: Workspace, outputs: LiveOutputs, reporter: JobReporter) -> None:
        """Put the live session's outputs in place and describe them, as the batch steps would."""
        stored = await ws.adopt(outputs.source, source_name(job.content_type))
        source = stored.path
        await self._report(
            reporter, "SOURCE", stored, job.content_type.split(";")[0][:64] or "application/octet-stream"
        )
        await reporter.progress("ASSEMBLE", 1.0)
        # The live remux read every packet of these bytes with the same forced demuxer: its extent
        # is the source's, so the source is not read through again at stop.
        extent = StreamExtent(outputs.remux_seconds, outputs.remux_frames) if outputs.remux_seconds else None
        # The first chunk's probe already has the streams (WebM's header) and the remux the extent:
        # then no ffmpeg probes the source or the original at stop.
        known = outputs.probe if extent is not None and describes_streams(outputs.probe) else None
        probe = await self.probe(job, source, reporter, extent=extent, known=known)
        muxer, name, content_type = original_format(probe)
        if name != outputs.original_name:  # the first chunk looked different from the whole
            outputs.original.unlink(missing_ok=True)
            original, probe = await self.remux(job, ws, source, probe, reporter)
        else:
            await reporter.progress("REMUX", 0.0)
            stored = await ws.adopt(outputs.original, name)
            original = stored.path
            # The live remux copied every packet: its last timestamp is the original's extent, so
            # the original is not read through once more at stop.
            probe = await self.describe_original(
                job,
                stored,
                muxer,
                content_type,
                reporter,
                extent_seconds=outputs.remux_seconds,
                known=probe if known is not None and muxer in ("webm", "matroska") else None,
            )
        if probe.video is not None and outputs.thumbnail is not None:
            # Made while it arrived (media_service/live_thumbnail.py): no decode at stop.
            await reporter.progress("THUMBNAIL", 0.0)
            stored = await ws.adopt(outputs.thumbnail, "thumbnail.jpg")
            await self._report(reporter, "THUMBNAIL", stored, "image/jpeg")
            await reporter.progress("THUMBNAIL", 1.0)
        elif probe.video is not None:
            await self.make_thumbnail(job, ws, original, probe, reporter)

    # ---- steps --------------------------------------------------------------------------------
    @metrics.timed_step("ASSEMBLE")
    async def assemble(self, job: Job, ws: Workspace, reporter: JobReporter) -> pathlib.Path:
        """Concatenate the chunks in order into the source file, one chunk in memory at a time."""
        await reporter.progress("ASSEMBLE", 0.0)
        name = source_name(job.content_type)
        if not await self.files.chunk_file_exists(job.owner_id, job.video_id, 0):
            # Assembled by an earlier attempt that then cleaned up its chunks?
            earlier = await ws.fetch(ws.key(name))
            if earlier is not None:
                return earlier
        missing: list[int] = []
        async with ws.output(name, step=Step.ASSEMBLE) as stored:
            with open(stored.tmp, "wb") as out:
                for index in range(job.last_index + 1):
                    try:
                        data = await self.files.read_chunk(job.owner_id, job.video_id, index)
                    except FileNotFoundError:
                        missing.append(index)
                        if len(missing) >= 10:
                            break
                        continue
                    if not missing:
                        await asyncio.to_thread(out.write, data)
                    if index % 16 == 15:
                        await reporter.progress("ASSEMBLE", min(index / (job.last_index + 1), 0.999))
            if missing:
                raise StepFailed("ASSEMBLE", f"chunks {missing} are missing from storage")
        await self._report(
            reporter, "SOURCE", stored, job.content_type.split(";")[0][:64] or "application/octet-stream"
        )
        await reporter.progress("ASSEMBLE", 1.0)
        return stored.path

    async def probe_file(self, path: pathlib.Path, container: Container) -> tuple[ProbeResult, str]:
        # A probe reads headers and a frame or two: the small bound, so many fit in the budget at stop.
        _, text = await run_ffmpeg(
            commands.probe_args(self.ffmpeg, str(path), container), self.limits.quick().copying(), check=False
        )
        return parse_probe(text), text

    async def stream_extent(self, path: pathlib.Path, container: Container) -> StreamExtent:
        _, text = await run_ffmpeg(
            commands.stream_extent_args(self.ffmpeg, str(path), container, self.media_limits.max_recording_seconds),
            self.limits.copying(),
            check=False,
        )
        progress = parse_last_progress(text)
        return StreamExtent(progress.seconds, progress.frames)

    @metrics.timed_step("PROBE")
    async def probe(
        self,
        job: Job,
        source: pathlib.Path,
        reporter: JobReporter,
        extent: StreamExtent | None = None,
        known: ProbeResult | None = None,
    ) -> ProbeResult:
        """What the upload is, decided from its bytes: a WebM/Matroska or MP4 recording (sniffed in
        Python, then read by that demuxer only), of the declared family, within the media limits.
        Anything else fails here, before any other ffmpeg run. extent: the stream's last timestamp
        and frames when they were already read from these bytes (the live remux's progress);
        known: the streams when a probe of these bytes' header already found them (no ffmpeg run)."""
        await reporter.progress("PROBE", 0.0)
        if source.stat().st_size == 0:
            raise StepFailed("PROBE", "the upload is empty: 0 bytes were received")
        container = await asyncio.to_thread(read_container, source)
        if container is None:
            raise StepFailed(
                "PROBE",
                "the upload is not a readable recording: a WebM, Matroska or MP4 file "
                "was expected and its first bytes are none of these (playlists, "
                "manifests and other formats are refused)",
            )
        declared = declared_family(job.content_type)
        if declared and container.family != declared:
            raise StepFailed(
                "PROBE",
                f"the upload was declared {job.content_type.split(';')[0]} but the bytes "
                f"are {container.label} ({container.family}); upload it again "
                f"with the right content_type",
            )
        result, text = (known, "") if known is not None else await self.probe_file(source, container)
        if result.ambiguity:
            raise StepFailed("PROBE", f"the upload cannot be read safely: {result.ambiguity}")
        if result.video is None and result.audio is None:
            reason = next(
                (
                    ln.split(": ", 1)[-1]
                    for ln in reversed(text.strip().splitlines())
                    if "rror" in ln or "Invalid" in ln
                ),
                "no audio or video stream found",
            )
            raise StepFailed(
                "PROBE",
                f"the upload is not a readable recording "
                f"({sanitise_ffmpeg_message(reason, (job.owner_id, job.video_id))})",
            )
        if found_family(result) != container.family:  # the forced demuxer makes this the same
            raise StepFailed("PROBE", f"the upload's {container.label} header does not match its content")
        if extent is None:
            extent = await self.stream_extent(source, container)
        refusal = media_limit_refusal(result, extent, self.media_limits)
        if refusal:
            raise StepFailed("PROBE", f"the upload is refused: {refusal}")
        result = dataclasses.replace(
            result, sniffed=container, duration_seconds=reconcile_duration(result.duration_seconds, extent.seconds)
        )
        await reporter.progress("PROBE", 1.0)
        return result

    @metrics.timed_step("REMUX")
    async def remux(
        self, job: Job, ws: Workspace, source: pathlib.Path, probe: ProbeResult, reporter: JobReporter
    ) -> tuple[pathlib.Path, ProbeResult]:
        await reporter.progress("REMUX", 0.0)
        muxer, name, content_type = original_format(probe)
        max_bytes = commands.remux_bytes_bound(source.stat().st_size)
        async with ws.output(name, step=Step.REMUX) as stored:
            try:
                await run_ffmpeg(
                    commands.remux_args(self.ffmpeg, str(source), probe.sniffed, str(stored.tmp), muxer, max_bytes),
                    self.limits.for_media(probe.duration_seconds).copying(),
                )
            except FfmpegFailed as exc:
                raise StepFailed("REMUX", f"could not rewrite the recording: {exc.message}") from exc
            self._check_bound("REMUX", stored.tmp, max_bytes)
        return stored.path, await self.describe_original(job, stored, muxer, content_type, reporter)

    @staticmethod
    def _check_bound(step: str, output: pathlib.Path, max_bytes: int) -> None:
        """-fs stops an output at its bound without failing: reaching it means the input made far
        more than a recording of its length can, so nothing of it is kept."""
        if output.exists() and output.stat().st_size >= max_bytes:
            raise StepFailed(
                step,
                f"the output reached its size bound ({max_bytes >> 20} MiB) and was "
                f"discarded; the recording is not what its length says",
            )

    async def describe_original(
        self,
        job: Job,
        stored: Output,
        muxer: str,
        content_type: str,
        reporter: JobReporter,
        extent_seconds: float | None = None,
        known: ProbeResult | None = None,
    ) -> ProbeResult:
        """Probe our (stored) original and record it. extent_seconds: the stream's last timestamp
        when the caller already read every packet (the live remux); otherwise the file is read for
        it. known: the upload's probe when the original is a copy of exactly its streams (not probed)."""
        final = stored.path
        # Our own file, but its metadata (and any claimed duration) was copied from the upload.
        container = containers.for_muxer(muxer)
        if known is not None:  # its streams are the upload's; its Duration is read from its header
            claimed = await asyncio.to_thread(read_matroska_duration, final)
            remuxed = dataclasses.replace(known, duration_seconds=claimed)
        else:
            remuxed, _ = await self.probe_file(final, container)
        if remuxed.ambiguity:
            raise StepFailed("REMUX", f"the recording cannot be read safely: {remuxed.ambiguity}")
        if extent_seconds is None:
            extent_seconds = (await self.stream_extent(final, container)).seconds
        duration = reconcile_duration(remuxed.duration_seconds, extent_seconds)
        remuxed = dataclasses.replace(remuxed, duration_seconds=duration, sniffed=container)
        video, audio = remuxed.video, remuxed.audio
        await reporter.media_info(
            MediaFacts(
                duration_seconds=duration,
                width=video.width if video else None,
                height=video.height if video else None,
                video_codec=video.codec if video else None,
                audio_codec=audio.codec if audio else None,
                container=muxer,
            )
        )
        await self._report(reporter, "ORIGINAL", stored, content_type)
        await reporter.progress("REMUX", 1.0)
        return remuxed

    @metrics.timed_step("THUMBNAIL")
    async def make_thumbnail(
        self, job: Job, ws: Workspace, original: pathlib.Path, probe: ProbeResult, reporter: JobReporter
    ) -> pathlib.Path:
        await reporter.progress("THUMBNAIL", 0.0)
        fps = probe.video.fps if probe.video and probe.video.fps else 30.0
        async with ws.output("thumbnail.jpg", step=Step.THUMBNAIL) as stored:
            tmp = stored.tmp
            try:
                for at in dict.fromkeys(
                    [commands.thumbnail_time(probe.duration_seconds, self.thumbnail.candidate_frames, fps), 0.0]
                ):
                    tmp.unlink(missing_ok=True)
                    await run_ffmpeg(
                        commands.thumbnail_args(
                            self.ffmpeg,
                            str(original),
                            probe.sniffed,
                            str(tmp),
                            at,
                            self.thumbnail,
                            self.media_limits.max_video_pixels,
                        ),
                        self.limits.quick().still(),
                    )
                    if tmp.exists() and tmp.stat().st_size > 0:
                        break  # a seek past the last keyframe can yield no frame: then try from 0
                else:
                    raise StepFailed("THUMBNAIL", "no frame could be decoded for a thumbnail")
            except FfmpegFailed as exc:
                raise StepFailed("THUMBNAIL", f"could not extract a thumbnail: {exc.message}") from exc
        await self._report(reporter, "THUMBNAIL", stored, "image/jpeg")
        await reporter.progress("THUMBNAIL", 1.0)
        return stored.path
