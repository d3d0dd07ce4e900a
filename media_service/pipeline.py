"""The processing steps for one uploaded video: assemble, probe, remux, compress, thumbnail.

Each step writes to a temporary name and renames into place, so a step that is run again (a
retry, or a worker that took over an expired lease) never sees half a file.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pathlib
from typing import Protocol

from media_service import commands
from media_service.live import LiveFailed, LiveOutputs, LiveSession, LiveSessions
from media_service.formats import declared_family, found_family, original_format, source_name
from media_service.probe import ProbeResult, parse_probe
from media_service.runner import FfmpegFailed, FfmpegLimits, run_ffmpeg
from media_service.settings import CompressionProfile, ThumbnailSettings
from media_service.files import MediaFiles, Workspace
from recorder_common.storage import publish

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


class JobReporter(Protocol):
    async def progress(self, step: str, fraction: float) -> None: ...

    async def asset(self, kind: str, key: str, size: int, content_type: str) -> None: ...

    async def media_info(self, facts: MediaFacts) -> None: ...


class MediaPipeline:
    def __init__(self, files: MediaFiles, ffmpeg_binary: str, profile: CompressionProfile,
                 thumbnail: ThumbnailSettings, limits: FfmpegLimits, live: LiveSessions | None = None) -> None:
        self.files = files
        self.ffmpeg = ffmpeg_binary
        self.profile = profile
        self.thumbnail = thumbnail
        self.limits = limits
        self.live = live

    def _tmp(self, final: pathlib.Path) -> pathlib.Path:
        return final.with_name(f".{final.name}.{os.getpid()}.tmp")

    async def run(self, job: Job, reporter: JobReporter) -> None:
        ws = self.files.workspace(job.owner_id, job.video_id)
        try:
            await self._run(job, ws, reporter)
        finally:
            ws.close()

    async def _run(self, job: Job, ws: Workspace, reporter: JobReporter) -> None:
        session = self.live.take(job.video_id) if self.live is not None else None
        if session is not None:
            try:
                outputs = await self._finish_live(session, job, reporter)
            except LiveFailed as exc:
                log.warning("live path of %s lost (%s): processing the stored chunks", job.video_id, exc)
                self.live.decline(job.video_id, f"lost at the end: {exc}")
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
        await self.compress(job, ws, original, probe, reporter)
        if probe.video is not None:
            await self.make_thumbnail(job, ws, original, probe, reporter)

    @staticmethod
    async def _keep(ws: Workspace, reporter: JobReporter, kind: str, path: pathlib.Path, content_type: str) -> None:
        key, size = await ws.keep(path)
        await reporter.asset(kind, key, size, content_type)

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
        source = ws.path(source_name(job.content_type))
        await asyncio.to_thread(publish, outputs.source, source)
        await self._keep(ws, reporter, "SOURCE", source,
                         job.content_type.split(";")[0][:64] or "application/octet-stream")
        await reporter.progress("ASSEMBLE", 1.0)
        probe = await self.probe(job, source, reporter)
        muxer, name, content_type = original_format(probe)
        if name != outputs.original_name:  # the first chunk looked different from the whole
            outputs.original.unlink(missing_ok=True)
            outputs.compressed.unlink(missing_ok=True)
            original, probe = await self.remux(job, ws, source, probe, reporter)
            await self.compress(job, ws, original, probe, reporter)
        else:
            await reporter.progress("REMUX", 0.0)
            original = ws.path(name)
            await asyncio.to_thread(publish, outputs.original, original)
            probe = await self.describe_original(job, ws, original, muxer, content_type, reporter)
            await reporter.progress("COMPRESS", 0.0)
            compressed = ws.path(f"compressed.{self.profile.extension}")
            await asyncio.to_thread(publish, outputs.compressed, compressed)
            await self._keep(ws, reporter, "COMPRESSED", compressed, self.profile.content_type)
            await reporter.progress("COMPRESS", 1.0)
        if probe.video is not None:
            await self.make_thumbnail(job, ws, original, probe, reporter)

    # ---- steps --------------------------------------------------------------------------------
    async def assemble(self, job: Job, ws: Workspace, reporter: JobReporter) -> pathlib.Path:
        """Concatenate the chunks in order into the source file, one chunk in memory at a time."""
        await reporter.progress("ASSEMBLE", 0.0)
        name = source_name(job.content_type)
        if not await self.files.chunk_file_exists(job.owner_id, job.video_id, 0):
            # Assembled by an earlier attempt that then cleaned up its chunks?
            earlier = await ws.fetch(self.files.store.media_key(job.owner_id, job.video_id, name))
            if earlier is not None:
                return earlier
        final = ws.path(name)
        tmp = self._tmp(final)
        missing: list[int] = []
        try:
            with open(tmp, "wb") as out:
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
            await asyncio.to_thread(publish, tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        await self._keep(ws, reporter, "SOURCE", final,
                         job.content_type.split(";")[0][:64] or "application/octet-stream")
        await reporter.progress("ASSEMBLE", 1.0)
        return final

    async def probe_file(self, path: pathlib.Path) -> tuple[ProbeResult, str]:
        _, text = await run_ffmpeg(commands.probe_args(self.ffmpeg, str(path)), self.limits, check=False)
        return parse_probe(text), text

    async def probe(self, job: Job, source: pathlib.Path, reporter: JobReporter) -> ProbeResult:
        await reporter.progress("PROBE", 0.0)
        if source.stat().st_size == 0:
            raise StepFailed("PROBE", "the upload is empty: 0 bytes were received")
        result, text = await self.probe_file(source)
        if result.video is None and result.audio is None:
            reason = next((ln.split(": ", 1)[-1] for ln in reversed(text.strip().splitlines())
                           if "rror" in ln or "Invalid" in ln), "no audio or video stream found")
            raise StepFailed("PROBE", f"the upload is not a readable recording ({reason.strip()})")
        declared, found = declared_family(job.content_type), found_family(result)
        if declared and found != declared:
            raise StepFailed("PROBE", f"the upload was declared {job.content_type.split(';')[0]} but the bytes "
                                      f"are {found or result.container or 'another format'}; upload it again "
                                      f"with the right content_type")
        await reporter.progress("PROBE", 1.0)
        return result

    async def remux(self, job: Job, ws: Workspace, source: pathlib.Path, probe: ProbeResult,
                    reporter: JobReporter) -> tuple[pathlib.Path, ProbeResult]:
        await reporter.progress("REMUX", 0.0)
        muxer, name, content_type = original_format(probe)
        final = ws.path(name)
        tmp = self._tmp(final)
        try:
            await run_ffmpeg(commands.remux_args(self.ffmpeg, str(source), str(tmp), muxer), self.limits)
            await asyncio.to_thread(publish, tmp, final)
        except FfmpegFailed as exc:
            raise StepFailed("REMUX", f"could not rewrite the recording: {exc.message}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return final, await self.describe_original(job, ws, final, muxer, content_type, reporter)

    async def describe_original(self, job: Job, ws: Workspace, final: pathlib.Path, muxer: str,
                                content_type: str, reporter: JobReporter) -> ProbeResult:
        remuxed, _ = await self.probe_file(final)
        duration = remuxed.duration_seconds
        if not duration:
            duration = await self._decoded_duration(final)
        remuxed = dataclasses.replace(remuxed, duration_seconds=duration)
        video, audio = remuxed.video, remuxed.audio
        await reporter.media_info(MediaFacts(
            duration_seconds=duration, width=video.width if video else None,
            height=video.height if video else None, video_codec=video.codec if video else None,
            audio_codec=audio.codec if audio else None, container=muxer))
        await self._keep(ws, reporter, "ORIGINAL", final, content_type)
        await reporter.progress("REMUX", 1.0)
        return remuxed

    async def _decoded_duration(self, path: pathlib.Path) -> float | None:
        reached: list[float] = []
        await run_ffmpeg(commands.decode_check_args(self.ffmpeg, str(path)), self.limits,
                         on_progress=reached.append, check=False)
        return max(reached) if reached else None

    async def compress(self, job: Job, ws: Workspace, original: pathlib.Path, probe: ProbeResult,
                       reporter: JobReporter) -> pathlib.Path:
        await reporter.progress("COMPRESS", 0.0)
        final = ws.path(f"compressed.{self.profile.extension}")
        tmp = self._tmp(final)
        duration = probe.duration_seconds or 0.0
        pending: list[asyncio.Task] = []

        def on_progress(seconds: float) -> None:
            if duration > 0:
                pending.append(asyncio.ensure_future(
                    reporter.progress("COMPRESS", min(seconds / duration, 0.999))))

        try:
            await run_ffmpeg(commands.compress_args(
                self.ffmpeg, str(original), str(tmp), self.profile,
                has_video=probe.video is not None, has_audio=probe.audio is not None,
                frame_size=(probe.video.width or 0, probe.video.height or 0) if probe.video else None),
                self.limits, on_progress=on_progress)
            await asyncio.to_thread(publish, tmp, final)
        except FfmpegFailed as exc:
            raise StepFailed("COMPRESS", f"could not compress the recording: {exc.message}") from exc
        finally:
            tmp.unlink(missing_ok=True)
            await asyncio.gather(*pending, return_exceptions=True)
        await self._keep(ws, reporter, "COMPRESSED", final, self.profile.content_type)
        await reporter.progress("COMPRESS", 1.0)
        return final

    async def make_thumbnail(self, job: Job, ws: Workspace, original: pathlib.Path, probe: ProbeResult,
                             reporter: JobReporter) -> pathlib.Path:
        await reporter.progress("THUMBNAIL", 0.0)
        final = ws.path("thumbnail.jpg")
        tmp = self._tmp(final)
        fps = probe.video.fps if probe.video and probe.video.fps else 30.0
        try:
            for at in dict.fromkeys([commands.thumbnail_time(
                    probe.duration_seconds, self.thumbnail.candidate_frames, fps), 0.0]):
                tmp.unlink(missing_ok=True)
                await run_ffmpeg(commands.still_args(
                    self.ffmpeg, str(original), str(tmp), at, self.thumbnail.width, "JPEG",
                    representative=True, candidate_frames=self.thumbnail.candidate_frames), self.limits)
                if tmp.exists() and tmp.stat().st_size > 0:
                    break  # a seek past the last keyframe can yield no frame: then try from 0
            else:
                raise StepFailed("THUMBNAIL", "no frame could be decoded for a thumbnail")
            await asyncio.to_thread(publish, tmp, final)
        except FfmpegFailed as exc:
            raise StepFailed("THUMBNAIL", f"could not extract a thumbnail: {exc.message}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        await self._keep(ws, reporter, "THUMBNAIL", final, "image/jpeg")
        await reporter.progress("THUMBNAIL", 1.0)
        return final
