"""Upload engine rules through real servers: each bad chunk gets its status, and stored data stays."""

from __future__ import annotations

import os

import grpc
import pytest

from ingest_service.settings import UploadLimits
from recorder.v1 import common_pb2, ingest_pb2
from tests.conftest import start_stack
from recorder_common.errors import Reason
from tests.helpers import MiB, chunk, create_upload, expect, put_chunk, user, wait_final

pytestmark = pytest.mark.both_backends

ALICE = user("alice")


def chunk_files(stack, video_id):
    return [key.rsplit("/", 1)[1] for key in stack.keys(f"users/alice/videos/{video_id}/chunks/")]


async def test_retry_of_an_acknowledged_chunk_is_a_no_op(stack):
    vid = await create_upload(stack, ALICE)
    first = await put_chunk(stack, vid, chunk(0, b"hello"), ALICE)
    again = await put_chunk(stack, vid, chunk(0, b"hello"), ALICE)
    assert first.outcome == common_pb2.CHUNK_OUTCOME_STORED
    assert again.outcome == common_pb2.CHUNK_OUTCOME_DUPLICATE
    assert again.state.received_chunks == 1 and again.state.received_bytes == 5


async def test_different_bytes_for_a_stored_index_are_refused_and_the_chunk_kept(stack):
    vid = await create_upload(stack, ALICE)
    await put_chunk(stack, vid, chunk(0, b"hello"), ALICE)
    await expect(
        grpc.StatusCode.ALREADY_EXISTS, put_chunk(stack, vid, chunk(0, b"HELLO"), ALICE), Reason.CHUNK_CONFLICT
    )
    [kept] = chunk_files(stack, vid)  # the refused write took its own file back
    assert kept.startswith("0000000000.")
    assert stack.file(f"users/alice/videos/{vid}/chunks/{kept}").read_bytes() == b"hello"


async def test_bad_checksum_is_refused_before_anything_is_stored(stack):
    vid = await create_upload(stack, ALICE)
    bad = ingest_pb2.Chunk(index=0, data=b"hello", crc32c=12345)
    await expect(grpc.StatusCode.INVALID_ARGUMENT, put_chunk(stack, vid, bad, ALICE))
    bad_sha = ingest_pb2.Chunk(index=0, data=b"hello", sha256=b"\0" * 32)
    await expect(grpc.StatusCode.INVALID_ARGUMENT, put_chunk(stack, vid, bad_sha, ALICE))
    assert chunk_files(stack, vid) == []
    state = (
        await stack.ingest.GetUploadState(
            ingest_pb2.GetIngestUploadStateRequest(video_id=vid), metadata=ALICE, timeout=10
        )
    ).state
    assert state.received_chunks == 0


@pytest.mark.parametrize(
    "index,code", [(-1, grpc.StatusCode.INVALID_ARGUMENT), (10**12, grpc.StatusCode.RESOURCE_EXHAUSTED)]
)
async def test_bad_indices(stack, index, code):
    vid = await create_upload(stack, ALICE)
    await expect(code, put_chunk(stack, vid, chunk(index, b"x"), ALICE))
    assert chunk_files(stack, vid) == []


async def test_unknown_and_foreign_and_malformed_video_ids(stack):
    vid = await create_upload(stack, ALICE)
    await expect(grpc.StatusCode.NOT_FOUND, put_chunk(stack, "0" * 32, chunk(0, b"x"), ALICE))
    await expect(grpc.StatusCode.NOT_FOUND, put_chunk(stack, vid, chunk(0, b"x"), user("bob")))
    await expect(grpc.StatusCode.INVALID_ARGUMENT, put_chunk(stack, "../../etc/passwd", chunk(0, b"x"), ALICE))
    assert chunk_files(stack, vid) == []
    assert stack.keys("users/bob/") == []


async def test_new_chunk_after_completion_is_refused_but_a_resend_succeeds(stack):
    vid = await create_upload(stack, ALICE)
    await put_chunk(stack, vid, chunk(0, b"not a video", is_last=True), ALICE)
    resend = await put_chunk(stack, vid, chunk(0, b"not a video", is_last=True), ALICE)
    assert resend.outcome == common_pb2.CHUNK_OUTCOME_DUPLICATE
    await expect(grpc.StatusCode.FAILED_PRECONDITION, put_chunk(stack, vid, chunk(1, b"more"), ALICE))
    video = await wait_final(stack, vid, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_FAILED  # processed once: it is not a video
    claims = [e for e in video.history if e.message.startswith("attempt")]
    assert len(claims) == 1


async def test_stream_must_start_with_a_header(stack):
    async def messages():
        yield ingest_pb2.UploadRequest(chunk=chunk(0, b"x"))

    await expect(grpc.StatusCode.INVALID_ARGUMENT, stack.ingest.Upload(messages(), metadata=ALICE, timeout=30))


async def test_stream_reports_missing_indices_when_incomplete(stack):
    async def messages():
        yield ingest_pb2.UploadRequest(
            header=ingest_pb2.UploadHeader(create=ingest_pb2.CreateUploadRequest(title="gappy"))
        )
        for i in (0, 2, 4):
            yield ingest_pb2.UploadRequest(chunk=chunk(i, b"x", is_last=i == 4))

    response = await stack.ingest.Upload(messages(), metadata=ALICE, timeout=30)
    assert not response.state.complete
    assert list(response.state.missing_indices) == [1, 3]
    assert list(response.state.stored_indices) == [0, 2, 4]


async def test_chunk_limits_and_message_limits_agree(database_url, tmp_path, storage_backend):
    stack, stop = await start_stack(
        database_url, tmp_path / "s", limits=UploadLimits(max_chunk_bytes=5 * MiB), storage=storage_backend
    )
    try:
        vid = await create_upload(stack, ALICE)
        # 5 MiB is allowed: over grpcio's default 4 MiB receive limit, which must not refuse it.
        ack = await put_chunk(stack, vid, chunk(0, os.urandom(5 * MiB)), ALICE)
        assert ack.state.received_bytes == 5 * MiB
        await expect(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            put_chunk(stack, vid, chunk(1, b"\0" * (5 * MiB + 1)), ALICE),
            Reason.CHUNK_TOO_LARGE,
        )
        assert [name.split(".")[0] for name in chunk_files(stack, vid)] == ["0000000000"]
    finally:
        await stop()
