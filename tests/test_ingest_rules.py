"""Upload engine rules through real servers: each bad chunk gets its status, and stored data stays."""
from __future__ import annotations

import os

import grpc
import pytest

from recorder.v1 import common_pb2, ingest_pb2
from tests.conftest import start_stack
from ingest_service.settings import UploadLimits
from tests.helpers import MiB, chunk, user, wait_final

pytestmark = pytest.mark.both_backends

ALICE = user("alice")


async def create(stack, md=ALICE) -> str:
    return (await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title="t"), metadata=md)).video_id


async def put(stack, video_id, c, md=ALICE):
    return (await stack.ingest.PutChunk(ingest_pb2.PutChunkRequest(video_id=video_id, chunk=c),
                                        metadata=md, timeout=30)).ack


async def expect(code, coro):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await coro
    assert err.value.code() == code, err.value.details()
    assert err.value.details()  # a message a person can act on
    return err.value.details()


def chunk_files(stack, video_id):
    return [key.rsplit("/", 1)[1] for key in stack.keys(f"users/alice/videos/{video_id}/chunks/")]


async def test_retry_of_an_acknowledged_chunk_is_a_no_op(stack):
    vid = await create(stack)
    first = await put(stack, vid, chunk(0, b"hello"))
    again = await put(stack, vid, chunk(0, b"hello"))
    assert first.outcome == common_pb2.CHUNK_OUTCOME_STORED
    assert again.outcome == common_pb2.CHUNK_OUTCOME_DUPLICATE
    assert again.state.received_chunks == 1 and again.state.received_bytes == 5


async def test_different_bytes_for_a_stored_index_are_refused_and_the_chunk_kept(stack):
    vid = await create(stack)
    await put(stack, vid, chunk(0, b"hello"))
    details = await expect(grpc.StatusCode.ALREADY_EXISTS, put(stack, vid, chunk(0, b"HELLO")))
    assert "kept" in details
    [kept] = chunk_files(stack, vid)  # the refused write took its own file back
    assert kept.startswith("0000000000.")
    assert stack.file(f"users/alice/videos/{vid}/chunks/{kept}").read_bytes() == b"hello"


async def test_bad_checksum_is_refused_before_anything_is_stored(stack):
    vid = await create(stack)
    bad = ingest_pb2.Chunk(index=0, data=b"hello", crc32c=12345)
    await expect(grpc.StatusCode.INVALID_ARGUMENT, put(stack, vid, bad))
    bad_sha = ingest_pb2.Chunk(index=0, data=b"hello", sha256=b"\0" * 32)
    await expect(grpc.StatusCode.INVALID_ARGUMENT, put(stack, vid, bad_sha))
    assert chunk_files(stack, vid) == []
    state = (await stack.ingest.GetUploadState(ingest_pb2.GetIngestUploadStateRequest(video_id=vid),
                                               metadata=ALICE)).state
    assert state.received_chunks == 0


@pytest.mark.parametrize("index,code", [(-1, grpc.StatusCode.INVALID_ARGUMENT),
                                        (10**12, grpc.StatusCode.RESOURCE_EXHAUSTED)])
async def test_bad_indices(stack, index, code):
    vid = await create(stack)
    await expect(code, put(stack, vid, chunk(index, b"x")))
    assert chunk_files(stack, vid) == []


async def test_unknown_and_foreign_and_malformed_video_ids(stack):
    vid = await create(stack)
    await expect(grpc.StatusCode.NOT_FOUND, put(stack, "0" * 32, chunk(0, b"x")))
    await expect(grpc.StatusCode.NOT_FOUND, put(stack, vid, chunk(0, b"x"), md=user("bob")))
    await expect(grpc.StatusCode.INVALID_ARGUMENT, put(stack, "../../etc/passwd", chunk(0, b"x")))
    assert chunk_files(stack, vid) == []
    assert stack.keys("users/bob/") == []


async def test_new_chunk_after_completion_is_refused_but_a_resend_succeeds(stack):
    vid = await create(stack)
    await put(stack, vid, chunk(0, b"not a video", is_last=True))
    resend = await put(stack, vid, chunk(0, b"not a video", is_last=True))
    assert resend.outcome == common_pb2.CHUNK_OUTCOME_DUPLICATE
    await expect(grpc.StatusCode.FAILED_PRECONDITION, put(stack, vid, chunk(1, b"more")))
    video = await wait_final(stack, vid, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_FAILED  # processed once: it is not a video
    claims = [e for e in video.history if e.message.startswith("attempt")]
    assert len(claims) == 1


async def test_stream_must_start_with_a_header(stack):
    async def messages():
        yield ingest_pb2.UploadRequest(chunk=chunk(0, b"x"))

    await expect(grpc.StatusCode.INVALID_ARGUMENT, stack.ingest.Upload(messages(), metadata=ALICE))


async def test_stream_reports_missing_indices_when_incomplete(stack):
    async def messages():
        yield ingest_pb2.UploadRequest(header=ingest_pb2.UploadHeader(
            create=ingest_pb2.CreateUploadRequest(title="gappy")))
        for i in (0, 2, 4):
            yield ingest_pb2.UploadRequest(chunk=chunk(i, b"x", is_last=i == 4))

    response = await stack.ingest.Upload(messages(), metadata=ALICE)
    assert not response.state.complete
    assert list(response.state.missing_indices) == [1, 3]
    assert list(response.state.stored_indices) == [0, 2, 4]


async def test_chunk_limits_and_message_limits_agree(database_url, tmp_path):
    stack, stop = await start_stack(database_url, tmp_path / "s", limits=UploadLimits(max_chunk_bytes=5 * MiB))
    try:
        vid = await create(stack)
        # 5 MiB is allowed: over grpcio's default 4 MiB receive limit, which must not refuse it.
        ack = await put(stack, vid, chunk(0, os.urandom(5 * MiB)))
        assert ack.state.received_bytes == 5 * MiB
        details = await expect(grpc.StatusCode.RESOURCE_EXHAUSTED, put(stack, vid, chunk(1, b"\0" * (5 * MiB + 1))))
        assert "limit" in details
        assert [name.split(".")[0] for name in chunk_files(stack, vid)] == ["0000000000"]
    finally:
        await stop()
