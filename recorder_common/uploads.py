"""An upload's state, the one domain type the catalog answers with and ingest passes on, and its
one translation to and from common.UploadState."""

from __future__ import annotations

import dataclasses

from recorder.v1 import common_pb2
from recorder_common.vocab import VideoStatus


@dataclasses.dataclass(frozen=True)
class UploadState:
    """The index lists are filled only when asked for (not for the per-chunk summary)."""

    video_id: str
    status: VideoStatus | None  # None: a status this build does not know (a newer peer's)
    received_chunks: int = 0
    received_bytes: int = 0
    last_index: int | None = None  # the index flagged last, once one is
    complete: bool = False
    missing_indices: list[int] = dataclasses.field(default_factory=list)
    stored_indices: list[int] = dataclasses.field(default_factory=list)


def upload_state_message(state: UploadState) -> common_pb2.UploadState:
    message = common_pb2.UploadState(
        video_id=state.video_id,
        status=VideoStatus.proto_of(state.status),
        received_chunks=state.received_chunks,
        received_bytes=state.received_bytes,
        complete=state.complete,
        missing_indices=state.missing_indices,
        stored_indices=state.stored_indices,
    )
    if state.last_index is not None:
        message.last_index = state.last_index
    return message


def upload_state_from(message: common_pb2.UploadState) -> UploadState:
    return UploadState(
        video_id=message.video_id,
        status=VideoStatus.from_proto(message.status),
        received_chunks=message.received_chunks,
        received_bytes=message.received_bytes,
        last_index=message.last_index if message.HasField("last_index") else None,
        complete=message.complete,
        missing_indices=list(message.missing_indices),
        stored_indices=list(message.stored_indices),
    )
