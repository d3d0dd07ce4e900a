"""Media for the bench scripts: the screen-like recording they upload (generated once per set of
parameters and cached outside the repository), and the media service's own encode timed alone."""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from media_service import commands  # noqa: E402
from media_service.containers import Container  # noqa: E402
from media_service.settings import CompressionProfile  # noqa: E402
from tests.media_tools import FAST_VP8, lavfi, live_webm  # noqa: E402


def screen_clip_args(
    ffmpeg: str, path: pathlib.Path, seconds: float, size: str = "1280x720", bitrate: str = "2500k"
) -> list[str]:
    """A mostly still desktop (testsrc, whose counter changes like text) with a moving window
    (testsrc2) drifting across it and a tone, VP8/Opus as MediaRecorder writes it (no cues, no
    duration)."""
    return [
        ffmpeg,
        "-v",
        "error",
        "-y",
        *lavfi(f"testsrc=size={size}:rate=30"),
        *lavfi("testsrc2=size=480x270:rate=30"),
        *lavfi("sine=frequency=440:sample_rate=48000"),
        "-filter_complex",
        "[0:v][1:v]overlay=x='100+300*(1+sin(t/4))':y='200+100*sin(t/3)',format=yuv420p[v]",
        "-map",
        "[v]",
        "-map",
        "2:a",
        "-t",
        str(seconds),
        *FAST_VP8,
        "-b:v",
        bitrate,
        "-c:a",
        "libopus",
        "-b:a",
        "128k",
        *live_webm(path),
    ]


def make_screen_clip(
    ffmpeg: str, path: pathlib.Path, seconds: float, size: str = "1280x720", bitrate: str = "2500k"
) -> None:
    # Bounded by the length asked for: VP8 at 1080p runs near realtime on a busy 2-core machine.
    subprocess.run(
        screen_clip_args(ffmpeg, path, seconds, size, bitrate), check=True, timeout=max(600.0, 10.0 * seconds)
    )


def cache_dir() -> pathlib.Path:
    """BENCH_CACHE, else $XDG_CACHE_HOME/recorder-bench (~/.cache): outside the repository."""
    if "BENCH_CACHE" in os.environ:
        return pathlib.Path(os.environ["BENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(base) / "recorder-bench"


# Longer clips are this long a clip played again and again (stream copy): encoding 600 s of 1080p
# VP8 takes most of an hour on a busy 2-core machine, copying it seconds.
LOOPED_BEYOND_SECONDS = 60.0


def looped_clip_args(ffmpeg: str, unit: pathlib.Path, path: pathlib.Path, seconds: float) -> list[str]:
    """`unit` over and over, timestamps carried on, cut at `seconds`: a MediaRecorder-like WebM
    (no cues, no duration) of that length."""
    loops = int(seconds // LOOPED_BEYOND_SECONDS) + 1
    return [ffmpeg, "-v", "error", "-y", "-stream_loop", str(loops), "-i", str(unit), "-t", str(seconds)] + [
        "-map",
        "0",
        "-c",
        "copy",
        *live_webm(path),
    ]


def cached_screen_clip(ffmpeg: str, seconds: float, size: str = "1280x720", bitrate: str = "2500k") -> pathlib.Path:
    """make_screen_clip's file for these parameters, generated on first use (beyond
    LOOPED_BEYOND_SECONDS, the shorter clip looped). The key is the command and the ffmpeg build,
    so a change to either makes a new file rather than reusing a stale one."""
    version = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, timeout=30).stdout.splitlines()[:1]
    unit = None
    if seconds > LOOPED_BEYOND_SECONDS:
        unit = cached_screen_clip(ffmpeg, LOOPED_BEYOND_SECONDS, size, bitrate)
        recipe = looped_clip_args(ffmpeg, unit, pathlib.Path("OUT"), seconds) + version
    else:
        recipe = screen_clip_args(ffmpeg, pathlib.Path("OUT"), seconds, size, bitrate) + version
    key = hashlib.sha256("\0".join(recipe).encode()).hexdigest()[:16]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"screen-{size}-{seconds:g}s-{bitrate}-{key}.webm"
    if not path.exists():
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            partial = pathlib.Path(scratch) / "clip.webm"
            if unit is not None:
                subprocess.run(looped_clip_args(ffmpeg, unit, partial, seconds), check=True, timeout=600)
            else:
                make_screen_clip(ffmpeg, partial, seconds, size, bitrate)
            partial.rename(path)  # whole or absent, even if interrupted
    return path


def encode_alone(
    ffmpeg: str,
    clip: pathlib.Path,
    seconds: float,
    profile: CompressionProfile,
    size: tuple[int, int],
    work: pathlib.Path,
) -> float:
    """The media service's compress command (commands.compress_args, threads left to the encoder:
    every core, as a queued encode gets on an idle machine) on the clip, nothing else running from
    us: media-seconds encoded per wall-second."""
    out = work / f"alone.{profile.extension}"
    argv = commands.compress_args(
        ffmpeg,
        str(clip),
        Container.WEBM,
        str(out),
        profile,
        has_video=True,
        has_audio=True,
        max_bytes=1 << 40,
        frame_size=size,
    )
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, timeout=max(600.0, 20.0 * seconds))
    elapsed = time.perf_counter() - started
    out.unlink()
    return seconds / elapsed
