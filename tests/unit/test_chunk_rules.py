"""catalog_service.chunk_rules.apply_chunks on plain data: what a request of chunks records,
what it refuses, and when it completes the upload."""

from __future__ import annotations

import pytest

from catalog_service.chunk_rules import StoredChunk, UploadTally, apply_chunks
from recorder_common.errors import AlreadyExists, FailedPrecondition, Reason, ResourceExhausted
from recorder_common.vocab import ChunkOutcome, VideoStatus

STORED, DUPLICATE = ChunkOutcome.STORED, ChunkOutcome.DUPLICATE


def fresh() -> UploadTally:
    return UploadTally("v", VideoStatus.UPLOADING, None, 0, 0, None, {})


def test_new_chunks_are_stored_and_counted():
    tally = fresh()
    applied = apply_chunks(
        tally, [StoredChunk(0, 10, 1, file_token="a"), StoredChunk(1, 5, 2, file_token="b")], 0, 0, 0
    )
    assert applied.outcomes == [STORED, STORED] and not applied.completed_upload
    assert (tally.received_chunks, tally.received_bytes, tally.highest_index) == (2, 15, 1)
    assert applied.used_bytes == 15 and [c.index for c in applied.new_chunks] == [0, 1]


def test_the_same_bytes_again_are_a_duplicate_and_change_nothing():
    tally = fresh()
    apply_chunks(tally, [StoredChunk(0, 10, 1, file_token="a")], 0, 0, 0)
    again = apply_chunks(tally, [StoredChunk(0, 10, 1, file_token="b")], 0, 0, 10)
    assert again.outcomes == [DUPLICATE] and again.new_chunks == [] and tally.received_bytes == 10


def test_a_replayed_write_is_stored_not_duplicate():
    tally = fresh()
    apply_chunks(tally, [StoredChunk(0, 10, 1, file_token="a")], 0, 0, 0)
    assert apply_chunks(tally, [StoredChunk(0, 10, 1, file_token="a")], 0, 0, 10).outcomes == [STORED]


def test_different_bytes_for_a_stored_index_conflict():
    tally = fresh()
    apply_chunks(tally, [StoredChunk(0, 10, 1)], 0, 0, 0)
    with pytest.raises(AlreadyExists) as refused:
        apply_chunks(tally, [StoredChunk(0, 10, 2)], 0, 0, 10)
    assert refused.value.reason == Reason.CHUNK_CONFLICT


def test_the_last_chunk_completes_once_every_index_is_in():
    tally = fresh()
    early = apply_chunks(tally, [StoredChunk(1, 5, 2, is_last=True)], 0, 0, 0)
    assert not early.completed_upload and tally.last_index == 1
    done = apply_chunks(tally, [StoredChunk(0, 5, 1)], 0, 0, 5)
    assert done.completed_upload and tally.status == VideoStatus.UPLOADED
    # Finished: a resend is still a duplicate, a new index is refused.
    assert apply_chunks(tally, [StoredChunk(0, 5, 1)], 0, 0, 10).outcomes == [DUPLICATE]
    with pytest.raises(FailedPrecondition) as finished:
        apply_chunks(tally, [StoredChunk(2, 5, 3)], 0, 0, 10)
    assert finished.value.reason == Reason.UPLOAD_FINISHED


@pytest.mark.parametrize(
    "stored, offered",
    [
        ([StoredChunk(2, 1, 1, is_last=True)], StoredChunk(3, 1, 2)),  # past the last
        ([StoredChunk(2, 1, 1, is_last=True)], StoredChunk(1, 1, 2, is_last=True)),  # a second last
        ([StoredChunk(5, 1, 1)], StoredChunk(2, 1, 2, is_last=True)),  # last below a stored index
    ],
)
def test_indices_that_contradict_the_last_chunk_are_refused(stored, offered):
    tally = fresh()
    apply_chunks(tally, stored, 0, 0, 0)
    with pytest.raises(FailedPrecondition) as refused:
        apply_chunks(tally, [offered], 0, 0, 1)
    assert refused.value.reason == Reason.PAST_LAST_CHUNK


def test_upload_size_and_quota_limits_refuse_with_their_reasons():
    with pytest.raises(ResourceExhausted) as upload:
        apply_chunks(fresh(), [StoredChunk(0, 10, 1), StoredChunk(1, 10, 2)], 15, 0, 0)
    assert upload.value.reason == Reason.UPLOAD_TOO_LARGE
    with pytest.raises(ResourceExhausted) as quota:
        apply_chunks(fresh(), [StoredChunk(0, 10, 1)], 0, 100, 95)
    assert quota.value.reason == Reason.QUOTA_EXCEEDED
