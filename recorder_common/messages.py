"""Protobuf messages that more than one service builds from the same domain values."""

from __future__ import annotations

from typing import Protocol

from recorder.v1 import common_pb2


class MediaFields(Protocol):
    """What a probe found (the media service's MediaFacts, the catalog's video row)."""

    @property
    def duration_seconds(self) -> float | None: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def video_codec(self) -> str | None: ...
    @property
    def audio_codec(self) -> str | None: ...
    @property
    def container(self) -> str | None: ...


def media_info(facts: MediaFields) -> common_pb2.MediaInfo:
    """The MediaInfo message of these facts; what is unknown is sent as zero or empty."""
    return common_pb2.MediaInfo(
        duration_seconds=facts.duration_seconds or 0.0,
        width=facts.width or 0,
        height=facts.height or 0,
        video_codec=facts.video_codec or "",
        audio_codec=facts.audio_codec or "",
        container=facts.container or "",
    )
