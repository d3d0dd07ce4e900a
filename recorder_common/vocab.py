"""The project's one vocabulary: a video's status, processing step and asset kinds, a chunk's
outcome and the on-demand media formats, each as a StrEnum whose value is what the database stores,
mapped to its proto enum here and nowhere else.

Members are str, so rows, comparisons and log lines keep their plain names ("READY"); the
protobuf side uses `.proto`, `proto_of` and `from_proto`, whose tables are built once at import (a member with
no proto value fails the import; tests/unit/test_vocab.py checks the other direction, that every
proto value but UNSPECIFIED has a member).

`VideoRef` is how a video is named in listings and calls: owner first, as every method takes it,
and by field name, so a swapped pair no longer reads as right.
"""

from __future__ import annotations

import enum
from typing import NamedTuple, Protocol, Self, TypeVar

from recorder.v1 import common_pb2, media_pb2


class Vocabulary(enum.StrEnum):
    """A StrEnum mapped to one proto enum (registered below with its prefix)."""

    @property
    def proto(self) -> int:
        return _TO_PROTO[type(self)][self]

    @classmethod
    def proto_of(cls, value: str | None) -> int:
        """The proto number of a stored name; None (no step, say) is UNSPECIFIED, 0. A name that is
        not a member raises ValueError: the database holds only members."""
        return 0 if value is None else cls(value).proto

    @classmethod
    def from_proto(cls, number: int) -> Self | None:
        """The member for a proto number; None for UNSPECIFIED (0) and numbers this build does not
        know (a newer peer's value)."""
        return _FROM_PROTO[cls].get(number)  # type: ignore[return-value]  # cls's table holds cls's members

    @classmethod
    def name_of(cls, number: int) -> str:
        """For display: the member's name, or UNKNOWN for UNSPECIFIED and numbers this build lacks."""
        member = cls.from_proto(number)
        return "UNKNOWN" if member is None else member.value


class VideoStatus(Vocabulary):
    UPLOADING = "UPLOADING"
    UPLOADED = "UPLOADED"
    PROCESSING = "PROCESSING"
    READY = "READY"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    DELETED = "DELETED"


class Step(Vocabulary):
    """The processing steps, in the order a job runs them."""

    ASSEMBLE = "ASSEMBLE"
    PROBE = "PROBE"
    REMUX = "REMUX"
    COMPRESS = "COMPRESS"
    THUMBNAIL = "THUMBNAIL"


class AssetKind(Vocabulary):
    SOURCE = "SOURCE"
    ORIGINAL = "ORIGINAL"
    COMPRESSED = "COMPRESSED"
    THUMBNAIL = "THUMBNAIL"
    AUDIO_AAC = "AUDIO_AAC"
    AUDIO_MP3 = "AUDIO_MP3"
    AUDIO_FLAC = "AUDIO_FLAC"
    AUDIO_ORIGINAL = "AUDIO_ORIGINAL"
    PREVIEW = "PREVIEW"
    STORYBOARD = "STORYBOARD"
    STORYBOARD_VTT = "STORYBOARD_VTT"
    HLS = "HLS"


class ChunkOutcome(Vocabulary):
    """STORED: the request's own write is the recorded chunk. DUPLICATE: another write with the
    same bytes is (the request's file, if it wrote one, is nobody's and may go)."""

    STORED = "STORED"
    DUPLICATE = "DUPLICATE"


class AudioFormat(Vocabulary):
    """What ExtractAudio makes (ORIGINAL: the source's own stream, copied)."""

    AAC = "AAC"
    MP3 = "MP3"
    FLAC = "FLAC"
    ORIGINAL = "ORIGINAL"


class ImageFormat(Vocabulary):
    """Thumbnails are JPEG or WEBP, previews WEBP or GIF."""

    JPEG = "JPEG"
    WEBP = "WEBP"
    GIF = "GIF"


class RenditionKind(Vocabulary):
    """A derived output of a READY video, made after it is watchable, with its own lifecycle."""

    COMPRESSED = "COMPRESSED"  # H.264/AAC MP4 (+faststart), the default compression profile
    STORYBOARD = "STORYBOARD"  # sprite sheet + WebVTT for scrubbing, from the original (cheap)


class RenditionState(Vocabulary):
    PENDING = "PENDING"  # waiting for an encoder (the queue, or a live encode that may start)
    PROCESSING = "PROCESSING"  # an encoder holds its lease
    READY = "READY"  # its asset is stored
    FAILED = "FAILED"  # the encode failed; the video stays READY; RetryProcessing may redo it


RENDITION_FINAL_STATES = (RenditionState.READY, RenditionState.FAILED)


class VideoRef(NamedTuple):
    owner_id: str
    video_id: str


class _ProtoEnum(Protocol):
    def Value(self, name: str) -> int: ...  # noqa: N802 (protobuf's spelling)

    def values(self) -> list[int]: ...


# Per vocabulary (not one table: StrEnum members hash as their text, and Step.THUMBNAIL equals
# AssetKind.THUMBNAIL).
_TO_PROTO: dict[type[Vocabulary], dict[Vocabulary, int]] = {}
_FROM_PROTO: dict[type[Vocabulary], dict[int, Vocabulary]] = {}

# The one place a name meets its proto spelling.
PROTO_ENUMS: dict[type[Vocabulary], tuple[_ProtoEnum, str]] = {
    VideoStatus: (common_pb2.VideoStatus, "VIDEO_STATUS_"),
    Step: (common_pb2.ProcessingStep, "PROCESSING_STEP_"),
    AssetKind: (common_pb2.AssetKind, "ASSET_KIND_"),
    ChunkOutcome: (common_pb2.ChunkOutcome, "CHUNK_OUTCOME_"),
    AudioFormat: (media_pb2.AudioFormat, "AUDIO_FORMAT_"),
    ImageFormat: (media_pb2.ImageFormat, "IMAGE_FORMAT_"),
    RenditionKind: (common_pb2.RenditionKind, "RENDITION_KIND_"),
    RenditionState: (common_pb2.RenditionState, "RENDITION_STATE_"),
}
for _members, (_proto, _prefix) in PROTO_ENUMS.items():
    _TO_PROTO[_members] = {member: _proto.Value(_prefix + member.value) for member in _members}
    _FROM_PROTO[_members] = {number: member for member, number in _TO_PROTO[_members].items()}


# The renditions' call sites' spellings (issue 15), on the tables above.
def rendition_kind_enum(kind: RenditionKind | str | None) -> int:
    return RenditionKind.proto_of(kind or None)


_V = TypeVar("_V", bound=Vocabulary)


def rendition_kind(value: int) -> RenditionKind | None:
    """None for RENDITION_KIND_UNSPECIFIED; ValueError for a number the proto does not name."""
    return _named_or_unspecified(RenditionKind, value)


def rendition_state_enum(state: RenditionState | str | None) -> int:
    return RenditionState.proto_of(state or None)


def rendition_state(value: int) -> RenditionState | None:
    return _named_or_unspecified(RenditionState, value)


def _named_or_unspecified(members: type[_V], value: int) -> _V | None:
    if value == 0:
        return None
    member = members.from_proto(value)
    if member is None:
        raise ValueError(f"no {members.__name__} has proto number {value}")
    return member
