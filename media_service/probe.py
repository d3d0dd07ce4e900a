"""Reading what a media file holds from `ffmpeg -i` output (no ffprobe needed)."""
from __future__ import annotations

import dataclasses
import re

_DURATION = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_INPUT = re.compile(r"^Input #0, ([\w,]+), from", re.M)
_STREAM = re.compile(r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data): (\w+)(.*)$", re.M)
_SIZE = re.compile(r"(?:,|^)\s*(\d{2,5})x(\d{2,5})(?=[\s,\[]|$)")
_FPS = re.compile(r"([\d.]+) fps")


@dataclasses.dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "video" | "audio" | ...
    codec: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    container: str | None
    duration_seconds: float | None
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)

    @property
    def is_webm_family(self) -> bool:
        return bool(self.container) and ("matroska" in self.container or "webm" in self.container)

    @property
    def is_mp4_family(self) -> bool:
        return bool(self.container) and "mp4" in self.container


def parse_probe(text: str) -> ProbeResult:
    container_match = _INPUT.search(text)
    duration = None
    duration_match = _DURATION.search(text)
    if duration_match:
        h, m, s = duration_match.groups()
        duration = int(h) * 3600 + int(m) * 60 + float(s)
    streams = []
    for match in _STREAM.finditer(text):
        index, kind, codec, rest = match.groups()
        width = height = fps = None
        if kind == "Video":
            size = _SIZE.search(rest)
            if size:
                width, height = int(size.group(1)), int(size.group(2))
            fps_match = _FPS.search(rest)
            if fps_match:
                fps = float(fps_match.group(1))
        streams.append(StreamInfo(int(index), kind.lower(), codec, width, height, fps))
    return ProbeResult(container_match.group(1) if container_match else None, duration, tuple(streams))


def parse_progress_seconds(line: str) -> float | None:
    """One line of `-progress` output; out_time_us is the position reached, in microseconds."""
    if line.startswith(("out_time_us=", "out_time_ms=")):  # both are microseconds in ffmpeg
        value = line.split("=", 1)[1].strip()
        if value.lstrip("-").isdigit():
            return max(int(value), 0) / 1_000_000
    return None
