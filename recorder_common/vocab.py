"""The project's shared words, each defined once as a StrEnum whose values are what the database
stores, and mapped to its proto enum once (the proto's names are the value with a prefix)."""
from __future__ import annotations

import enum

from recorder.v1 import common_pb2


class RenditionKind(enum.StrEnum):
    """A derived output of a READY video, made after it is watchable, with its own lifecycle."""
    COMPRESSED = "COMPRESSED"  # H.264/AAC MP4 (+faststart), the default compression profile


class RenditionState(enum.StrEnum):
    PENDING = "PENDING"  # waiting for an encoder (the queue, or a live encode that may start)
    PROCESSING = "PROCESSING"  # an encoder holds its lease
    READY = "READY"  # its asset is stored
    FAILED = "FAILED"  # the encode failed; the video stays READY; RetryProcessing may redo it


RENDITION_FINAL_STATES = (RenditionState.READY, RenditionState.FAILED)


def rendition_kind_enum(kind: RenditionKind | str | None) -> int:
    return common_pb2.RenditionKind.Value(f"RENDITION_KIND_{kind}") if kind else 0


def rendition_kind(value: int) -> RenditionKind | None:
    """None for RENDITION_KIND_UNSPECIFIED; ValueError for a number the proto does not name."""
    if value == 0:
        return None
    return RenditionKind(common_pb2.RenditionKind.Name(value).removeprefix("RENDITION_KIND_"))


def rendition_state_enum(state: RenditionState | str | None) -> int:
    return common_pb2.RenditionState.Value(f"RENDITION_STATE_{state}") if state else 0


def rendition_state(value: int) -> RenditionState | None:
    if value == 0:
        return None
    return RenditionState(common_pb2.RenditionState.Name(value).removeprefix("RENDITION_STATE_"))
