"""Real-ffmpeg helpers for tests: make inputs, and check outputs without ffprobe."""

from __future__ import annotations

import hashlib
import pathlib
import statistics
import subprocess

from media_service.commands import Playlist
from media_service.probe import parse_probe, parse_progress_seconds
from media_service.settings import find_ffmpeg

FFMPEG = find_ffmpeg()

# VP8 as fast as libvpx goes: test inputs need frames, not quality.
FAST_VP8 = ("-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8")


def lavfi(graph: str) -> tuple[str, ...]:
    """An input made by one of ffmpeg's lavfi sources, e.g. "testsrc2=size=320x240:rate=30"."""
    return ("-f", "lavfi", "-i", graph)


def live_webm(path: pathlib.Path) -> tuple[str, ...]:
    """The output options of a WebM written as MediaRecorder writes it: no duration, no cues."""
    return ("-live", "1", "-f", "webm", str(path))


def ffmpeg(*args: str, timeout: float = 300.0) -> None:
    """Runs ffmpeg with these arguments, printing errors only and overwriting its output; raises
    if it fails or runs past the timeout."""
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True, timeout=timeout)


def _read(*args: str, text: bool, check: bool = True, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """ffmpeg, quiet and with no stdin, for what it writes to stdout (rawvideo, framemd5, ...)."""
    return subprocess.run(
        [FFMPEG, "-nostdin", "-v", "error", *args], capture_output=True, text=text, check=check, timeout=timeout
    )


def make_webm(
    path: pathlib.Path,
    seconds: float,
    size: str = "1280x720",
    rate: int = 30,
    live: bool = True,
    audio: bool = True,
    video: bool = True,
    bitrate: str = "1M",
) -> pathlib.Path:
    """A VP8/Opus WebM. live=True writes it like MediaRecorder does: no duration, no cues."""
    args: list[str] = []
    if video:
        args += lavfi(f"testsrc2=size={size}:rate={rate}")
    if audio:
        args += lavfi("sine=frequency=440:sample_rate=48000")
    args += ["-t", str(seconds)]
    if video:
        args += [*FAST_VP8, "-b:v", bitrate]
    if audio:
        args += ["-c:a", "libopus"]
    args += live_webm(path) if live else ["-f", "webm", str(path)]
    # Bounded by the length asked for: a minute of 720p took over 300 s on a loaded 2-core machine.
    ffmpeg(*args, timeout=max(300.0, 20.0 * seconds))
    return path


def sha256_file(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def probe(path: pathlib.Path):
    result = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True, text=True, timeout=60
    )
    return parse_probe(result.stderr)


def decode_fully(path: pathlib.Path) -> tuple[bool, float, str]:
    """Decode every frame of every stream. Returns (clean, seconds reached, errors printed)."""
    result = subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-v",
            "error",
            "-progress",
            "pipe:1",
            "-nostats",
            "-i",
            str(path),
            # vfr: a variable-frame-rate recording (Chrome's) has frames closer together than the
            # null muxer's time base can tell apart; drop those there instead of calling it an error.
            "-map",
            "0",
            "-fps_mode",
            "vfr",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    reached = [s for s in map(parse_progress_seconds, result.stdout.splitlines()) if s is not None]
    return result.returncode == 0 and not result.stderr.strip(), max(reached or [0.0]), result.stderr


def check_hls_segments(folder: pathlib.Path, playlist: Playlist, source_seconds: float, tolerance: float) -> None:
    """Every segment in folder decodes on its own after the init segment (each starts at a
    keyframe), and all of them together reach the source's duration within tolerance seconds."""
    init = (folder / playlist.init).read_bytes()
    for _, name in playlist.segments:
        single = folder / f"check-{name}.mp4"
        single.write_bytes(init + (folder / name).read_bytes())
        clean, _, errors = decode_fully(single)
        assert clean, (name, errors)
    whole = folder / "check-all.mp4"
    whole.write_bytes(init + b"".join((folder / name).read_bytes() for _, name in playlist.segments))
    clean, reached, errors = decode_fully(whole)
    assert clean, errors
    assert abs(reached - source_seconds) <= tolerance, (reached, source_seconds)


def top_level_boxes(path: pathlib.Path) -> list[str]:
    """The MP4's top-level box types in file order (ftyp, moov, mdat, ...)."""
    boxes = []
    with open(path, "rb") as f:
        while header := f.read(8):
            size, kind = int.from_bytes(header[:4], "big"), header[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(f.read(8), "big") - 8
            elif size == 0:
                boxes.append(kind)
                break
            boxes.append(kind)
            f.seek(size - 8, 1)
    return boxes


def gray_pixels(path: pathlib.Path, *options: str, seek: float | None = None) -> list[int]:
    """The 8-bit luma of every pixel of a picture (or of a video's frame at `seek` seconds), after
    output options such as ("-vf", "crop=w:h:x:y")."""
    start = ("-ss", f"{seek:.3f}") if seek is not None else ()
    result = _read(*start, "-i", str(path), *options, "-f", "rawvideo", "-pix_fmt", "gray", "-", text=False)
    return list(result.stdout)


def is_uniform(image: pathlib.Path, min_stdev: float = 8.0) -> bool:
    pixels = gray_pixels(image)
    return not pixels or statistics.pstdev(pixels) < min_stdev


def packet_hashes(path: pathlib.Path, stream: str = "a:0") -> list[tuple[str, str]]:
    """(size, md5) of every packet of one stream, copied out without decoding: equal lists mean
    the same coded bytes, whatever container holds them."""
    result = _read("-i", str(path), "-map", f"0:{stream}", "-c", "copy", "-f", "framemd5", "-", text=True, timeout=120)
    rows = [line.split(",") for line in result.stdout.splitlines() if line and not line.startswith("#")]
    return [(row[4].strip(), row[5].strip()) for row in rows]


def webp_animation(path: pathlib.Path) -> tuple[int, int]:
    """(frames, canvas width) of an animated WebP, read from its RIFF chunks (ffmpeg cannot decode
    animated WebP)."""
    data = path.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP", "not a WebP file"
    frames, width, offset = 0, 0, 12
    while offset + 8 <= len(data):
        kind, size = data[offset : offset + 4], int.from_bytes(data[offset + 4 : offset + 8], "little")
        if kind == b"VP8X":
            width = int.from_bytes(data[offset + 12 : offset + 15], "little") + 1
        elif kind == b"ANMF":
            frames += 1
        offset += 8 + size + (size & 1)
    return frames, width


def make_fragmented_mp4(
    path: pathlib.Path, seconds: float, audio_codec: str = "aac", size: str = "640x360"
) -> pathlib.Path:
    """H.264 with AAC or Opus in fragmented MP4, as Chrome's MediaRecorder writes video/mp4."""
    ffmpeg(
        *lavfi(f"testsrc2=size={size}:rate=30"),
        *lavfi("sine=frequency=330:sample_rate=48000"),
        "-t",
        str(seconds),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "30",
        "-c:a",
        "aac" if audio_codec == "aac" else "libopus",
        "-movflags",
        "frag_keyframe+empty_moov+default_base_moof",
        "-f",
        "mp4",
        str(path),
    )
    return path


def count_packets(path: pathlib.Path, stream: str = "v:0") -> int:
    return len(packet_hashes(path, stream))


def frame_hashes(path: pathlib.Path, stream: str = "v:0") -> list[str]:
    """md5 of every decoded frame of one stream (framemd5): equal hashes mean the same pictures,
    whatever container or packets carried them."""
    result = _read("-i", str(path), "-map", f"0:{stream}", "-f", "framemd5", "-", text=True, check=False, timeout=300)
    rows = [line.split(",") for line in result.stdout.splitlines() if line and not line.startswith("#")]
    return [row[5].strip() for row in rows if len(row) >= 6]


def make_clip(
    path: pathlib.Path,
    seconds: float,
    source: str = "smptebars",
    size: str = "320x240",
    extra: tuple[str, ...] = (),
    muxer: str = "webm",
) -> pathlib.Path:
    """A short VP8 clip of a lavfi source (not testsrc2, so its frames differ from make_webm's),
    with extra output options (metadata, attachments) and a chosen muxer."""
    ffmpeg(*lavfi(f"{source}=size={size}:rate=30"), "-t", str(seconds), *FAST_VP8, *extra, "-f", muxer, str(path))
    return path
