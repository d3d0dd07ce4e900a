"""ffmpeg command lines, built by pure functions (ffmpeg-python) so tests can check them."""
from __future__ import annotations

import ffmpeg

from media_service.settings import CompressionProfile, ThumbnailSettings

# Before every run: quiet except for errors, never read stdin, overwrite our own temp outputs.
GLOBAL_ARGS = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
PROGRESS_ARGS = ["-progress", "pipe:1", "-nostats"]


def _compile(stream, binary: str, progress: bool = False) -> list[str]:
    args = ffmpeg.compile(stream, cmd=binary)
    return [args[0], *GLOBAL_ARGS, *(PROGRESS_ARGS if progress else []), *args[1:]]


def probe_args(binary: str, path: str) -> list[str]:
    """ffmpeg with an input and no output prints the input's streams and exits: a probe without
    ffprobe."""
    return [binary, "-hide_banner", "-nostdin", "-i", path]


def decode_check_args(binary: str, path: str) -> list[str]:
    """Decode every stream and throw the frames away: fails on a broken file."""
    return _compile(ffmpeg.input(path).output("-", f="null", map=0, fps_mode="vfr"), binary, progress=True)


def remux_args(binary: str, src: str, dst: str, muxer: str) -> list[str]:
    """Copy the streams into a fresh container: MediaRecorder's WebM has no duration and no cues,
    and writing it again to a seekable file adds both. No re-encoding."""
    options: dict = {"c": "copy", "map": 0, "f": muxer}
    if muxer == "mp4":
        options["movflags"] = "+faststart"
    return _compile(ffmpeg.input(src).output(dst, **options), binary)


def even_scale_filter(max_height: int) -> str:
    """Scale down to max_height (never up), keeping the aspect ratio and even dimensions (H.264
    4:2:0 needs them; a shared window can have any size)."""
    return (f"scale=w='trunc(iw*min(1,{max_height}/ih)/2)*2'"
            f":h='trunc(min(ih,{max_height})/2)*2'")


def compress_args(binary: str, src: str, dst: str, profile: CompressionProfile, has_video: bool,
                  has_audio: bool) -> list[str]:
    source = ffmpeg.input(src)
    streams = []
    options: dict = {"f": "mp4", "movflags": "+faststart"}
    if has_video:
        streams.append(source["v:0"])
        options.update({
            "c:v": profile.video_codec, "preset": profile.preset, "crf": profile.crf,
            "pix_fmt": "yuv420p", "vf": even_scale_filter(profile.max_height),
            # Screen capture is variable frame rate; forcing a constant rate duplicates frames.
            "fps_mode": "passthrough",
        })
    if has_audio:
        streams.append(source["a:0"])
        options.update({"c:a": profile.audio_codec, "b:a": profile.audio_bitrate})
    return _compile(ffmpeg.output(*streams, dst, **options), binary, progress=True)


def thumbnail_args(binary: str, src: str, dst: str, at_seconds: float, settings: ThumbnailSettings) -> list[str]:
    """Seek first (-ss before -i is a fast keyframe seek), then let the thumbnail filter pick the
    most representative of a few dozen frames. The filter keeps every frame it considers in
    memory, so it must never run over a whole file."""
    source = ffmpeg.input(src, ss=f"{max(at_seconds, 0.0):.3f}")
    picked = (source.video
              .filter("thumbnail", n=settings.candidate_frames)
              .filter("scale", w=f"min({settings.width},iw)", h=-2))
    return _compile(ffmpeg.output(picked, dst, vframes=1, f="image2", update=1,
                                  **{"q:v": settings.jpeg_quality}),
                    binary)


def thumbnail_time(duration: float | None, candidate_frames: int, fps: float = 30.0) -> float:
    """A quarter in skips intros, fades and the black first frame; short clips start at 0 so the
    filter still sees frames."""
    if not duration or duration < 2.0:
        return 0.0
    window = candidate_frames / max(fps, 1.0)
    return max(0.0, min(duration * 0.25, duration - window - 0.5))
