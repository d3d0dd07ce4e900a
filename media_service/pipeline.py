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
import shutil
from typing import Protocol

from media_service import commands
from media_service.probe import ProbeResult, parse_probe
from media_service.runner import FfmpegFailed, run_ffmpeg
from media_service.settings import CompressionProfile, ThumbnailSettings
from recorder_common.storage import LocalStorage, publish

log = logging.getLogger("recorder.media.pipeline")

WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}


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

    async def asset(self, kind: str, path: pathlib.Path, content_type: str) -> None: ...

    async def media_info(self, facts: MediaFacts) -> None: ...


def _source_name(content_type: str) -> str:
    lowered = content_type.lower()
    if "mp4" in lowered:
        return "source.mp4"
    if "webm" in lowered or "matroska" in lowered:
        return "source.webm"
    return "source.bin"


def _original_format(probe: ProbeResult) -> tuple[str, str, str]:
    """(muxer, file name, content type) for the seekable original, in the source's own family."""
    if probe.is_mp4_family:
        return "mp4", "original.mp4", "video/mp4"
    codecs = {s.codec for s in probe.streams if s.kind in ("video", "audio")}
    if codecs <= WEBM_CODECS:
        return "webm", "original.webm", "video/webm"
    return "matroska", "original.mkv", "video/x-matroska"


class MediaPipeline:
    def __init__(self, storage: LocalStorage, ffmpeg_binary: str, profile: CompressionProfile,
                 thumbnail: ThumbnailSettings, step_timeout_seconds: float) -> None:
        self.storage = storage
        self.ffmpeg = ffmpeg_binary
        self.profile = profile
        self.thumbnail = thumbnail
        self.timeout = step_timeout_seconds

    def _path(self, job: Job, name: str) -> pathlib.Path:
        return self.storage.media_path(job.owner_id, job.video_id, name)

    def _tmp(self, final: pathlib.Path) -> pathlib.Path:
        return final.with_name(f".{final.name}.{os.getpid()}.tmp")

    def remove_stale_temporaries(self, job: Job) -> None:
        """Temporary outputs left by a worker that died. Only the lease holder runs this job, so
        any temporary file in the folder now is stale."""
        folder = self.storage.video_dir(job.owner_id, job.video_id)
        if folder.is_dir():
            for stale in folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)

    async def run(self, job: Job, reporter: JobReporter) -> None:
        await asyncio.to_thread(self.remove_stale_temporaries, job)
        source = await self.assemble(job, reporter)
        probe = await self.probe(source, reporter)
        original, probe = await self.remux(job, source, probe, reporter)
        await self.compress(job, original, probe, reporter)
        if probe.video is not None:
            await self.make_thumbnail(job, original, probe, reporter)

    # ---- steps --------------------------------------------------------------------------------
    async def assemble(self, job: Job, reporter: JobReporter) -> pathlib.Path:
        await reporter.progress("ASSEMBLE", 0.0)
        final = self._path(job, _source_name(job.content_type))
        chunks = list(self.storage.iter_chunk_paths(job.owner_id, job.video_id, job.last_index))
        if final.exists() and not any(p.exists() for p in chunks):
            return final  # assembled by an earlier attempt that then cleaned up its chunks
        missing = [i for i, p in enumerate(chunks) if not p.exists()]
        if missing:
            raise StepFailed("ASSEMBLE", f"chunks {missing[:10]} are missing from storage")
        tmp = self._tmp(final)

        def concatenate() -> None:
            with open(tmp, "wb") as out:
                for path in chunks:
                    with open(path, "rb") as chunk:
                        shutil.copyfileobj(chunk, out, 1024 * 1024)
            publish(tmp, final)

        try:
            await asyncio.to_thread(concatenate)
        finally:
            tmp.unlink(missing_ok=True)
        await reporter.asset("SOURCE", final, job.content_type.split(";")[0][:64] or "application/octet-stream")
        await reporter.progress("ASSEMBLE", 1.0)
        return final

    async def probe_file(self, path: pathlib.Path) -> tuple[ProbeResult, str]:
        _, text = await run_ffmpeg(commands.probe_args(self.ffmpeg, str(path)), self.timeout, check=False)
        return parse_probe(text), text

    async def probe(self, source: pathlib.Path, reporter: JobReporter) -> ProbeResult:
        await reporter.progress("PROBE", 0.0)
        result, text = await self.probe_file(source)
        if result.video is None and result.audio is None:
            reason = next((ln.split(": ", 1)[-1] for ln in reversed(text.strip().splitlines())
                           if "rror" in ln or "Invalid" in ln), "no audio or video stream found")
            raise StepFailed("PROBE", f"the upload is not a readable recording ({reason.strip()})")
        await reporter.progress("PROBE", 1.0)
        return result

    async def remux(self, job: Job, source: pathlib.Path, probe: ProbeResult,
                    reporter: JobReporter) -> tuple[pathlib.Path, ProbeResult]:
        await reporter.progress("REMUX", 0.0)
        muxer, name, content_type = _original_format(probe)
        final = self._path(job, name)
        tmp = self._tmp(final)
        try:
            await run_ffmpeg(commands.remux_args(self.ffmpeg, str(source), str(tmp), muxer), self.timeout)
            await asyncio.to_thread(publish, tmp, final)
        except FfmpegFailed as exc:
            raise StepFailed("REMUX", f"could not rewrite the recording: {exc.message}") from exc
        finally:
            tmp.unlink(missing_ok=True)
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
        await reporter.asset("ORIGINAL", final, content_type)
        await reporter.progress("REMUX", 1.0)
        return final, remuxed

    async def _decoded_duration(self, path: pathlib.Path) -> float | None:
        reached: list[float] = []
        await run_ffmpeg(commands.decode_check_args(self.ffmpeg, str(path)), self.timeout,
                         on_progress=reached.append, check=False)
        return max(reached) if reached else None

    async def compress(self, job: Job, original: pathlib.Path, probe: ProbeResult,
                       reporter: JobReporter) -> pathlib.Path:
        await reporter.progress("COMPRESS", 0.0)
        final = self._path(job, "compressed.mp4")
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
                has_video=probe.video is not None, has_audio=probe.audio is not None),
                self.timeout, on_progress=on_progress)
            await asyncio.to_thread(publish, tmp, final)
        except FfmpegFailed as exc:
            raise StepFailed("COMPRESS", f"could not compress the recording: {exc.message}") from exc
        finally:
            tmp.unlink(missing_ok=True)
            await asyncio.gather(*pending, return_exceptions=True)
        await reporter.asset("COMPRESSED", final, "video/mp4")
        await reporter.progress("COMPRESS", 1.0)
        return final

    async def make_thumbnail(self, job: Job, original: pathlib.Path, probe: ProbeResult,
                             reporter: JobReporter) -> pathlib.Path:
        await reporter.progress("THUMBNAIL", 0.0)
        final = self._path(job, "thumbnail.jpg")
        tmp = self._tmp(final)
        fps = probe.video.fps if probe.video and probe.video.fps else 30.0
        try:
            for at in dict.fromkeys([commands.thumbnail_time(
                    probe.duration_seconds, self.thumbnail.candidate_frames, fps), 0.0]):
                tmp.unlink(missing_ok=True)
                await run_ffmpeg(commands.thumbnail_args(self.ffmpeg, str(original), str(tmp), at,
                                                         self.thumbnail), self.timeout)
                if tmp.exists() and tmp.stat().st_size > 0:
                    break  # a seek past the last keyframe can yield no frame: then try from 0
            else:
                raise StepFailed("THUMBNAIL", "no frame could be decoded for a thumbnail")
            await asyncio.to_thread(publish, tmp, final)
        except FfmpegFailed as exc:
            raise StepFailed("THUMBNAIL", f"could not extract a thumbnail: {exc.message}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        await reporter.asset("THUMBNAIL", final, "image/jpeg")
        await reporter.progress("THUMBNAIL", 1.0)
        return final
