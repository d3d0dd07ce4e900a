"""Reading what a media file holds from `ffmpeg -i` output (no ffprobe needed), and what ffmpeg
prints, made safe to show to a user.

The input is hostile: container metadata (titles, comments, tag names) is printed in the same
listing as the facts we want. So the listing is read by its structure: only the lines ffmpeg
itself writes at the top indentation of the `Input #0` block count (`  Duration: ...`,
`  Stream #0:N: ...`), metadata values are printed deeper (and continuation lines of a value
start with spaces and ": "), and a listing where those structural lines repeat (a tag *name* with
a newline in it can forge one) is reported as ambiguous instead of believed.
"""

from __future__ import annotations

import dataclasses
import re

from media_service.containers import Container

_INPUT = re.compile(r"^Input #0, ([\w,]+), from ", re.M)
_DURATION_LINE = re.compile(r"^  Duration: (?:(\d+):(\d{2}):(\d{2}(?:\.\d+)?)|N/A)(?:,|$)")
_STREAM_LINE = re.compile(
    r"^  Stream #0:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (Video|Audio|Subtitle|Data|Attachment): (\w+)(.*)$"
)
_SIZE = re.compile(r"(?:,|^)\s*(\d{1,5})x(\d{1,5})(?=[\s,\[]|$)")
_FPS = re.compile(r", ([\d.]+) fps(?:,|$)")


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
    # Set when the listing cannot be read unambiguously (forged structural lines): do not trust it.
    ambiguity: str | None = None
    # The container sniffed from the file's first bytes (the demuxer every later run is forced to).
    sniffed: "Container | None" = None

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


def _video_details(rest: str) -> tuple[int | None, int | None, float | None]:
    width = height = fps = None
    size = _SIZE.search(rest)
    if size:
        width, height = int(size.group(1)), int(size.group(2))
    fps_match = _FPS.search(rest)
    if fps_match:
        try:
            fps = float(fps_match.group(1))
        except ValueError:
            fps = None
    return width, height, fps


def parse_probe(text: str) -> ProbeResult:
    container_match = _INPUT.search(text)
    if container_match is None:
        return ProbeResult(None, None, ())
    block = text[container_match.start() :].splitlines()[1:]
    durations: list[float | None] = []
    streams: list[StreamInfo] = []
    for line in block:
        if line.startswith(("Input #", "Output #")):
            break  # the next file's listing
        duration = _DURATION_LINE.match(line)
        if duration:
            h, m, s = duration.groups()
            durations.append(int(h) * 3600 + int(m) * 60 + float(s) if h is not None else None)
            continue
        stream = _STREAM_LINE.match(line)
        if stream:
            index, kind, codec, rest = stream.groups()
            width, height, fps = _video_details(rest) if kind == "Video" else (None, None, None)
            streams.append(StreamInfo(int(index), kind.lower(), codec, width, height, fps))
    ambiguity = None
    if len(durations) > 1:
        ambiguity = "its metadata imitates ffmpeg's Duration line"
    elif [s.index for s in streams] != list(range(len(streams))):
        ambiguity = "its metadata imitates ffmpeg's Stream lines"
    return ProbeResult(container_match.group(1), durations[0] if durations else None, tuple(streams), ambiguity)


@dataclasses.dataclass(frozen=True)
class Progress:
    """What a `-progress` report says so far: the position reached and frames passed."""

    seconds: float | None = None
    frames: int | None = None


def parse_progress_seconds(line: str) -> float | None:
    """One line of `-progress` output; out_time_us is the position reached, in microseconds."""
    if line.startswith(("out_time_us=", "out_time_ms=")):  # both are microseconds in ffmpeg
        value = line.split("=", 1)[1].strip()
        if value.lstrip("-").isdigit():
            return max(int(value), 0) / 1_000_000
    return None


def parse_last_progress(text: str) -> Progress:
    """The last `-progress` report in text (a run that wrote its reports to stderr): the position
    reached and the video frames (packets, when copying) passed."""
    seconds = frames = None
    for line in text.splitlines():
        if (value := parse_progress_seconds(line)) is not None:
            seconds = value
        elif line.startswith("frame=") and line[6:].strip().isdigit():
            frames = int(line[6:].strip())
    return Progress(seconds, frames)


# ---- what a user may see of ffmpeg's messages -------------------------------------------------
_LOG_CONTEXT = re.compile(r"\[[^\]\n]*@ 0x[0-9a-fA-F]+\]\s*")  # "[matroska,webm @ 0x55d0c0...] "
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{5,}\b")
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s'\"]*")
_PATH = re.compile(r"(?<![\w.-])(?:[\w.~-]*/)+([\w.~-]*)")
_SPACES = re.compile(r"\s+")
MESSAGE_MAX_CHARS = 500


def sanitise_ffmpeg_message(text: str, hidden: tuple[str, ...] = ()) -> str:
    """ffmpeg's words without what is ours to keep: memory addresses, URLs (a presigned URL is a
    credential), file paths (storage and scratch roots, user folders, playlist entries) reduced to
    their last name, and any of the `hidden` strings (user and video ids). Used wherever ffmpeg's
    output becomes a FAILED message or an RPC error."""
    for secret in sorted((h for h in hidden if h), key=len, reverse=True):
        text = text.replace(secret, "…")
    text = _LOG_CONTEXT.sub("", text)
    text = _URL.sub("<url>", text)
    text = _PATH.sub(lambda m: m.group(1) or "<folder>", text)
    text = _ADDRESS.sub("0x…", text)
    text = _SPACES.sub(" ", text).strip()
    return text[:MESSAGE_MAX_CHARS]


def describes_streams(probe: ProbeResult) -> bool:
    """Whether a probe of an upload's first bytes already says all a full probe would: WebM keeps
    its track list in the header, so when every stream there has its codec (and a video its
    size), a probe of the whole file at stop finds the same; only the duration needs the stream's
    extent, which the live remux read."""
    video, audio = probe.video, probe.audio
    if probe.ambiguity or (video is None and audio is None):
        return False
    if video is not None and not (video.codec and video.width and video.height):
        return False
    return audio is None or bool(audio.codec)
