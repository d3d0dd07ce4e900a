"""Outputs a user asks for after processing: audio in a chosen format, a thumbnail at a chosen time,
size and format, a short animated preview, and downloads of any asset.

The rules live here (what may be asked, of which video, with which limits); ffmpeg command lines
come from media_service.commands; the catalog is reached through a small protocol so tests can
call this without a server.

Each ffmpeg run waits for one of max_parallel slots, at most max_per_user of them for one user,
admitted round-robin between users (a caller waits within its own deadline); it is bounded by the
media it reads (runner.FfmpegLimits.for_media), and stopped when its caller goes away (the RPC is
cancelled) or the video is deleted meanwhile (checked every CHECK_INTERVAL_SECONDS).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import AsyncIterator
from typing import Protocol

from media_service import commands, containers
from media_service.containers import Container
from media_service.admission import FairSlots
from media_service.runner import FfmpegFailed, FfmpegLimits, run_ffmpeg
from recorder_common.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound, OutOfRange
from recorder_common.ids import check_video_id
from media_service.files import MediaFiles, Workspace

AUDIO_KINDS = {"AAC": "AUDIO_AAC", "MP3": "AUDIO_MP3", "FLAC": "AUDIO_FLAC", "ORIGINAL": "AUDIO_ORIGINAL"}
DOWNLOAD_PIECE_BYTES = 256 * 1024
PREVIEW_MAX_SECONDS = 10.0
PREVIEW_MAX_WIDTH = 640
PREVIEW_MAX_FPS = 15
PREVIEW_MAX_BYTES = 8 * 1024 * 1024
THUMBNAIL_MAX_WIDTH = 1920
# How often a running on-demand ffmpeg checks that its video still exists.
CHECK_INTERVAL_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class StoredAsset:
    kind: str
    path: str  # the store's key: relative to the storage root
    size: int
    content_type: str


@dataclasses.dataclass(frozen=True)
class VideoFacts:
    status: str  # READY, PROCESSING, ...
    duration_seconds: float
    width: int
    video_codec: str
    audio_codec: str
    assets: dict[str, StoredAsset]
    height: int = 0


class CatalogView(Protocol):
    async def video_facts(self, owner_id: str, video_id: str) -> VideoFacts: ...

    async def put_asset(
        self, owner_id: str, video_id: str, kind: str, path: str, content_type: str, size: int
    ) -> None: ...


class OnDemandMedia:
    def __init__(
        self,
        files: MediaFiles,
        ffmpeg_binary: str,
        catalog: CatalogView,
        limits: FfmpegLimits,
        max_parallel: int = 2,
        candidate_frames: int = 30,
        max_pixels: int = 0,
        max_per_user: int = 0,
    ) -> None:
        self.max_pixels = max_pixels  # per decoded frame (MAX_VIDEO_PIXELS)
        self.files = files
        self.ffmpeg = ffmpeg_binary
        self.catalog = catalog
        self.limits = limits
        self.candidate_frames = candidate_frames
        # ffmpeg runs for on-demand work are bounded apart from processing; callers wait their turn
        # within their own deadline, users in turn.
        self.slots = FairSlots(max_parallel, max_per_user, kind="on_demand")

    # ---- requests ---------------------------------------------------------------------------
    async def extract_audio(
        self, owner_id: str, video_id: str, audio_format: str, bitrate_kbps: int = 0, mp3_quality: int | None = None
    ) -> StoredAsset:
        if audio_format not in AUDIO_KINDS:
            raise InvalidArgument("format must be AAC, MP3, FLAC or ORIGINAL")
        if bitrate_kbps and not 8 <= bitrate_kbps <= 320:
            raise InvalidArgument(f"bitrate_kbps must be 8-320 (or 0 for the default), not {bitrate_kbps}")
        if bitrate_kbps and audio_format not in ("AAC", "MP3"):
            raise InvalidArgument(f"bitrate_kbps applies to AAC and MP3, not {audio_format}")
        if mp3_quality is not None and (audio_format != "MP3" or not 0 <= mp3_quality <= 9 or bitrate_kbps):
            raise InvalidArgument("mp3_quality is 0-9, for MP3 only, and not together with bitrate_kbps")
        facts = await self._ready(owner_id, video_id)
        if not facts.audio_codec:
            raise FailedPrecondition("this recording has no audio track, so there is no audio to extract")
        output = commands.audio_output(audio_format, facts.audio_codec, bitrate_kbps, mp3_quality)
        return await self._make(
            owner_id,
            video_id,
            AUDIO_KINDS[audio_format],
            output.file_name,
            output.content_type,
            facts,
            lambda source, container, tmp: commands.extract_audio_args(
                self.ffmpeg, source, container, str(tmp), output, facts.duration_seconds
            ),
            "extract the audio",
            media_seconds=facts.duration_seconds or None,
        )

    async def thumbnail(
        self, owner_id: str, video_id: str, at_seconds: float | None, width: int, image_format: str
    ) -> StoredAsset:
        image_format = image_format or "JPEG"
        if image_format not in commands.IMAGE_CODECS:
            raise InvalidArgument("a thumbnail's format is JPEG or WEBP")
        width = self._width(width, 640, THUMBNAIL_MAX_WIDTH)
        facts = await self._ready(owner_id, video_id)
        if not facts.video_codec:
            raise FailedPrecondition("this recording has no video track, so it has no thumbnail")
        if at_seconds is not None:
            self._check_time("at_seconds", at_seconds, facts)
            at, representative = at_seconds, False
        else:
            at, representative = commands.thumbnail_time(facts.duration_seconds, self.candidate_frames), True
        _, _, extension, content_type = commands.IMAGE_CODECS[image_format]
        return await self._make(
            owner_id,
            video_id,
            "THUMBNAIL",
            f"thumbnail.{extension}",
            content_type,
            facts,
            lambda source, container, tmp: commands.still_args(
                self.ffmpeg,
                source,
                container,
                str(tmp),
                at,
                width,
                image_format,
                representative,
                self.candidate_frames,
                self.max_pixels,
            ),
            "make the thumbnail",
            media_seconds=0.0,
        )

    async def preview(
        self,
        owner_id: str,
        video_id: str,
        start_seconds: float | None,
        seconds: float,
        width: int,
        fps: int,
        image_format: str,
    ) -> StoredAsset:
        image_format = image_format or "WEBP"
        if image_format not in ("WEBP", "GIF"):
            raise InvalidArgument("a preview's format is WEBP or GIF")
        seconds = seconds or 3.0
        if not (math.isfinite(seconds) and 0.1 <= seconds <= PREVIEW_MAX_SECONDS):
            raise InvalidArgument(f"seconds must be 0.1-{PREVIEW_MAX_SECONDS:g} (or 0 for 3)")
        width = self._width(width, 320, PREVIEW_MAX_WIDTH)
        fps = fps or 10
        if not 1 <= fps <= PREVIEW_MAX_FPS:
            raise InvalidArgument(f"fps must be 1-{PREVIEW_MAX_FPS} (or 0 for 10)")
        facts = await self._ready(owner_id, video_id)
        if not facts.video_codec:
            raise FailedPrecondition("this recording has no video track, so it has no preview")
        if start_seconds is not None:
            self._check_time("start_seconds", start_seconds, facts)
            start = start_seconds
        else:
            start = max(0.0, min(facts.duration_seconds * 0.25, facts.duration_seconds - seconds))
        extension = "webp" if image_format == "WEBP" else "gif"
        return await self._make(
            owner_id,
            video_id,
            "PREVIEW",
            f"preview.{extension}",
            f"image/{extension}",
            facts,
            lambda source, container, tmp: commands.preview_args(
                self.ffmpeg,
                source,
                container,
                str(tmp),
                start,
                seconds,
                width,
                fps,
                image_format,
                PREVIEW_MAX_BYTES,
                self.max_pixels,
            ),
            "make the preview",
            media_seconds=seconds,
        )

    async def storyboard(self, owner_id: str, video_id: str) -> StoredAsset:
        """The storyboard's WebVTT asset, making the sprite sheet and the VTT when missing: one
        cheap low-resolution pass over the original. Returns the VTT asset."""
        facts = await self._ready(owner_id, video_id)
        existing = facts.assets.get("STORYBOARD_VTT")
        if existing is not None and "STORYBOARD" in facts.assets:
            return existing
        if not facts.video_codec:
            raise FailedPrecondition("this recording has no video track, so it has no storyboard")
        layout = commands.storyboard_layout(facts.duration_seconds, facts.width, facts.height)
        await self._make(
            owner_id,
            video_id,
            "STORYBOARD",
            "storyboard.jpg",
            "image/jpeg",
            facts,
            lambda source, container, tmp: commands.storyboard_args(
                self.ffmpeg, source, container, str(tmp), layout, self.max_pixels
            ),
            "make the storyboard",
            media_seconds=facts.duration_seconds or None,
        )
        ws = self.files.workspace(owner_id, video_id)
        try:
            async with ws.output("storyboard.vtt", step="STORYBOARD_VTT") as out:
                await asyncio.to_thread(out.tmp.write_text, commands.storyboard_vtt(layout, facts.duration_seconds))
                size = out.tmp.stat().st_size
                await self.catalog.put_asset(owner_id, video_id, "STORYBOARD_VTT", out.key, "text/vtt", size)
        finally:
            ws.close()
        return StoredAsset("STORYBOARD_VTT", out.key, out.size, "text/vtt")

    async def download(
        self, owner_id: str, video_id: str, kind: str, offset: int
    ) -> tuple[StoredAsset, AsyncIterator[tuple[int, bytes]]]:
        """The asset and its bytes from offset on, in pieces; the file is opened before this
        returns, so a missing file is an error here and not halfway through a stream."""
        facts = await self.catalog.video_facts(owner_id, check_video_id(video_id))
        asset = facts.assets.get(kind)
        if asset is None:
            raise NotFound(
                f"this video has no {kind.lower()} asset"
                + ("" if facts.status == "READY" else f" (it is {facts.status})")
            )
        if offset < 0 or offset > asset.size:
            raise OutOfRange(f"offset {offset} is outside the asset (0-{asset.size} bytes)")
        key = asset.path  # server-made, but checked again (by MediaFiles): the owner's own
        try:
            await self.files.stored_size(owner_id, key)
        except FileNotFoundError:
            raise NotFound(
                f"the {kind.lower()} file is gone (the video may have been reprocessed or deleted)"
            ) from None

        async def pieces() -> AsyncIterator[tuple[int, bytes]]:
            # Ranged reads: one piece in memory at a time, from a file or an object alike.
            position = offset
            while position < asset.size:
                piece = min(DOWNLOAD_PIECE_BYTES, asset.size - position)
                data = await self.files.read_range(owner_id, key, position, piece)
                if not data:
                    break
                yield position, data
                position += len(data)

        return asset, pieces()

    # ---- helpers ----------------------------------------------------------------------------
    async def _ready(self, owner_id: str, video_id: str) -> VideoFacts:
        facts = await self.catalog.video_facts(owner_id, check_video_id(video_id))
        if facts.status != "READY":
            raise FailedPrecondition(f"the video is {facts.status}; ask again once it is READY")
        return facts

    @staticmethod
    async def _original_input(ws: Workspace, facts: VideoFacts) -> tuple[str, Container]:
        asset = facts.assets.get("ORIGINAL")
        # Catalog paths are server-made; ffmpeg_input() checks again that this one is the owner's own.
        source = await ws.ffmpeg_input(asset.path) if asset is not None else None
        # The original is ours (remuxed with a known muxer): its demuxer is forced like any input's.
        container = containers.for_original(asset.content_type) if asset is not None else None
        if source is None or container is None:
            raise FailedPrecondition("the video has no original file")
        return source, container

    @staticmethod
    def _width(width: int, default: int, limit: int) -> int:
        width = width or default
        if not 16 <= width <= limit:
            raise InvalidArgument(f"width must be 16-{limit} pixels (or 0 for {default})")
        return width

    @staticmethod
    def _check_time(name: str, value: float, facts: VideoFacts) -> None:
        if not math.isfinite(value) or value < 0:
            raise InvalidArgument(f"{name} must be a time in seconds from 0")
        if facts.duration_seconds and value >= facts.duration_seconds:
            raise InvalidArgument(
                f"{name} {value:g} is past the end of the video ({facts.duration_seconds:.2f} s long)"
            )

    async def _while_wanted(self, owner_id: str, video_id: str, work, what: str) -> None:
        """Run the ffmpeg coroutine `work`; stop it if the video is deleted (or reprocessed)
        meanwhile, or when the caller goes away (this task is cancelled)."""
        task = asyncio.ensure_future(work)
        gone: list[str] = []

        async def watch() -> None:
            while not task.done():
                await asyncio.sleep(CHECK_INTERVAL_SECONDS)
                try:
                    facts = await self.catalog.video_facts(owner_id, video_id)
                except NotFound:
                    gone.append("deleted")
                except DomainError:
                    continue  # the catalog is unreachable: keep going, ask again
                else:
                    if facts.status == "READY":
                        continue
                    gone.append(facts.status)
                task.cancel()
                return

        watcher = asyncio.ensure_future(watch())
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:  # the caller went away: stop ffmpeg before going too
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        finally:
            watcher.cancel()
        if not gone and not task.cancelled() and isinstance(task.exception(), FfmpegFailed):
            # ffmpeg may have failed because the video's files went with it: say so if they did.
            try:
                facts = await self.catalog.video_facts(owner_id, video_id)
                if facts.status != "READY":
                    gone.append(facts.status)
            except NotFound:
                gone.append("deleted")
            except DomainError:
                pass
        if gone:
            if gone[0] == "deleted":
                raise NotFound(f"video {video_id} was deleted while its {what.split()[-1]} was being made")
            raise FailedPrecondition(
                f"the video became {gone[0]} while its {what.split()[-1]} was being made; ask again once it is READY"
            )
        task.result()

    async def _make(
        self,
        owner_id: str,
        video_id: str,
        kind: str,
        file_name: str,
        content_type: str,
        facts: VideoFacts,
        build_args,
        what: str,
        media_seconds: float | None = None,
    ) -> StoredAsset:
        ws = self.files.workspace(owner_id, video_id)
        try:
            # Published (and, off a local folder, uploaded) once the slot is free again.
            async with ws.output(file_name, step=kind) as out, self.slots.slot(owner_id):
                source, container = await self._original_input(ws, facts)
                tmp = out.tmp
                try:
                    await self._while_wanted(
                        owner_id,
                        video_id,
                        run_ffmpeg(build_args(source, container, tmp), self.limits.for_media(media_seconds)),
                        what,
                    )
                except FfmpegFailed as exc:
                    raise FailedPrecondition(f"could not {what}: {exc.message}") from exc
                if not tmp.exists() or tmp.stat().st_size == 0:
                    raise FailedPrecondition(f"could not {what}: ffmpeg wrote nothing (no frame at that time?)")
                # Recorded (and charged to the owner's quota) before it replaces anything: a
                # refusal leaves the stored asset of this kind, file and size, as it was.
                await self.catalog.put_asset(owner_id, video_id, kind, out.key, content_type, tmp.stat().st_size)
        finally:
            ws.close()
        asset = StoredAsset(kind, out.key, out.size, content_type)
        previous = facts.assets.get(kind)
        if previous is not None and previous.path != asset.path:  # e.g. thumbnail.jpg -> thumbnail.webp
            await self.files.remove_key(owner_id, previous.path)
        return asset
