"""The rules for recording stored chunks, on plain data: no database, no I/O.

The catalog loads what a group of RecordChunks requests needs (the videos, the chunks they name,
each owner's bytes in use) in a few queries, applies each request here to a copy of that state,
keeps the copy when the request is accepted and drops it when refused (all of a request or none
of it), and writes the result in one transaction."""

from __future__ import annotations

import dataclasses

from catalog_service.statuses import UPLOADED, UPLOADING
from recorder_common.errors import AlreadyExists, FailedPrecondition, Reason, ResourceExhausted
from recorder_common.uploads import UploadState
from recorder_common.vocab import ChunkOutcome, VideoStatus


@dataclasses.dataclass(frozen=True)
class StoredChunk:
    index: int
    size: int
    crc32c: int
    is_last: bool = False
    # The write whose file holds these bytes (see recorder_common.storage.chunk_name); None when
    # the request wrote nothing (it can only be a duplicate or be refused).
    file_token: str | None = None


@dataclasses.dataclass
class UploadTally:
    """One upload's counters as the rules see them, plus the chunks of it they need to know."""

    video_id: str
    status: str
    last_index: int | None
    received_chunks: int
    received_bytes: int
    highest_index: int | None  # the highest index stored so far
    known: dict[
        int, tuple[int, int, str | None]
    ]  # index -> (size, crc32c, file_token), for the indices this group names

    def copy(self) -> "UploadTally":
        return dataclasses.replace(self, known=dict(self.known))

    @property
    def complete(self) -> bool:
        return self.last_index is not None and self.received_chunks == self.last_index + 1

    def state(self) -> UploadState:
        """The upload's state as the catalog answers with it, without index lists."""
        return UploadState(
            video_id=self.video_id,
            status=VideoStatus(self.status),
            received_chunks=self.received_chunks,
            received_bytes=self.received_bytes,
            last_index=self.last_index,
            complete=self.complete,
        )


@dataclasses.dataclass
class Applied:
    outcomes: list[ChunkOutcome]  # one per chunk
    new_chunks: list[StoredChunk]
    completed_upload: bool  # these chunks completed the upload: hand it to processing (once)
    used_bytes: int  # the owner's bytes in use afterwards


def apply_chunks(
    tally: UploadTally, chunks: list[StoredChunk], max_upload_bytes: int, user_quota_bytes: int, used_bytes: int
) -> Applied:
    """Record `chunks` in order into `tally` (changed in place: pass a copy). Raises the first
    refusal; the caller then drops the copy, so a refused request changes nothing."""
    outcomes: list[ChunkOutcome] = []
    new_chunks: list[StoredChunk] = []
    completed = False
    for chunk in chunks:
        outcome = _apply_one(tally, chunk, max_upload_bytes, user_quota_bytes, used_bytes)
        if outcome == ChunkOutcome.STORED:
            used_bytes += chunk.size
            new_chunks.append(chunk)
        outcomes.append(outcome)
        if tally.status == UPLOADING and tally.complete:
            tally.status = UPLOADED
            completed = True
    return Applied(outcomes, new_chunks, completed, used_bytes)


def _apply_one(
    tally: UploadTally, chunk: StoredChunk, max_upload_bytes: int, user_quota_bytes: int, used_bytes: int
) -> ChunkOutcome:
    video_id, index, size = tally.video_id, chunk.index, chunk.size
    existing = tally.known.get(index)
    if existing is not None:
        if existing[:2] != (size, chunk.crc32c):
            raise AlreadyExists(
                f"chunk {index} of video {video_id} is already stored with different content; the stored chunk is kept",
                Reason.CHUNK_CONFLICT,
            )
        if chunk.file_token is not None and existing[2] == chunk.file_token:
            # This very write was recorded already (a replayed request): its file is the chunk.
            return ChunkOutcome.STORED
        if tally.status != UPLOADING or not chunk.is_last or tally.last_index == index:
            # A safe retry of an acknowledged chunk: nothing changes, nothing runs twice.
            return ChunkOutcome.DUPLICATE
    if tally.status != UPLOADING:
        raise FailedPrecondition(f"video {video_id} is {tally.status}: it takes no new chunks", Reason.UPLOAD_FINISHED)
    if tally.last_index is not None and index > tally.last_index:
        raise FailedPrecondition(
            f"chunk {index} is past the last chunk of this upload ({tally.last_index})", Reason.PAST_LAST_CHUNK
        )
    if chunk.is_last:
        if tally.last_index is not None and tally.last_index != index:
            raise FailedPrecondition(
                f"chunk {tally.last_index} was already flagged as the last one; chunk {index} cannot be last too",
                Reason.PAST_LAST_CHUNK,
            )
        if tally.highest_index is not None and tally.highest_index > index:
            raise FailedPrecondition(
                f"chunk {index} cannot be the last: chunk {tally.highest_index} is already stored",
                Reason.PAST_LAST_CHUNK,
            )
        tally.last_index = index
    if existing is not None:
        return ChunkOutcome.DUPLICATE
    if max_upload_bytes and tally.received_bytes + size > max_upload_bytes:
        raise ResourceExhausted(
            f"chunk {index} would take the upload to {tally.received_bytes + size} bytes, "
            f"over the limit of {max_upload_bytes} bytes per upload",
            Reason.UPLOAD_TOO_LARGE,
        )
    if user_quota_bytes and used_bytes + size > user_quota_bytes:
        raise ResourceExhausted(
            f"your storage quota of {user_quota_bytes} bytes is used up ({used_bytes} bytes "
            "stored): delete videos you no longer need",
            Reason.QUOTA_EXCEEDED,
        )
    tally.known[index] = (size, chunk.crc32c, chunk.file_token)
    tally.received_chunks += 1
    tally.received_bytes += size
    tally.highest_index = index if tally.highest_index is None else max(tally.highest_index, index)
    return ChunkOutcome.STORED
