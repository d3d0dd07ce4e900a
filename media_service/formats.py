"""Which container a recording is in, and which one its outputs go in."""

from __future__ import annotations

from media_service.probe import ProbeResult

WEBM_CODECS = {"vp8", "vp9", "av1", "opus", "vorbis"}


def source_name(content_type: str) -> str:
    lowered = content_type.lower()
    if "mp4" in lowered:
        return "source.mp4"
    if "webm" in lowered or "matroska" in lowered:
        return "source.webm"
    return "source.bin"


def declared_family(content_type: str) -> str | None:
    """webm or mp4 for the recording types we accept; None when the client did not say."""
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in ("video/webm", "audio/webm", "video/x-matroska"):
        return "webm"
    if media_type in ("video/mp4", "audio/mp4"):
        return "mp4"
    return None


def found_family(probe: ProbeResult) -> str | None:
    if probe.is_mp4_family:
        return "mp4"
    if probe.container and ("webm" in probe.container or "matroska" in probe.container):
        return "webm"
    return None


def original_format(probe: ProbeResult) -> tuple[str, str, str]:
    """(muxer, file name, content type) for the seekable original, in the source's own family."""
    if probe.is_mp4_family:
        return "mp4", "original.mp4", "video/mp4"
    codecs = {s.codec for s in probe.streams if s.kind in ("video", "audio")}
    if codecs <= WEBM_CODECS:
        return "webm", "original.webm", "video/webm"
    return "matroska", "original.mkv", "video/x-matroska"
