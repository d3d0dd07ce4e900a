"""Cheap floods a client could try against ingest: empty chunks, streams that go quiet, and more
chunk bytes at once than the process should hold."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from ingest_service.engine import ByteBudget
from ingest_service.settings import UploadLimits
from recorder.v1 import common_pb2, ingest_pb2
from recorder_common.errors import Reason, reason_of
from tests.conftest import start_stack
from tests.helpers import chunk, user

ALICE = user("alice")


async def create(stub) -> str:
    return (
        await stub.CreateUpload(
            ingest_pb2.CreateUploadRequest(title="t", filename="t.webm", content_type="video/webm"),
            metadata=ALICE,
            timeout=10,
        )
    ).video_id


async def test_empty_chunks_are_refused_except_an_empty_last_one(stack):
    video_id = await create(stack.ingest)
    for index in (0, 5):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stack.ingest.PutChunk(
                ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(index, b"")), metadata=ALICE, timeout=10
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "only the last chunk may be empty" in refused.value.details()
    await stack.ingest.PutChunk(
        ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(0, b"x" * 100)), metadata=ALICE, timeout=10
    )
    ack = (
        await stack.ingest.PutChunk(
            ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(1, b"", is_last=True)), metadata=ALICE, timeout=10
        )
    ).ack
    assert ack.outcome == common_pb2.CHUNK_OUTCOME_STORED
    assert ack.state.received_chunks == 2 and ack.state.received_bytes == 100
    # Nothing recorded for the refused ones: no zero-byte rows pile up.
    state = (
        await stack.ingest.GetUploadState(
            ingest_pb2.GetIngestUploadStateRequest(video_id=video_id), metadata=ALICE, timeout=10
        )
    ).state
    assert list(state.stored_indices) == [0, 1]


async def test_a_stream_that_goes_quiet_is_closed_and_keeps_what_it_sent(database_url, tmp_path):
    stack, stop = await start_stack(database_url, tmp_path / "storage", limits=UploadLimits(stream_idle_seconds=0.5))
    try:
        video_id = await create(stack.ingest)
        quiet = asyncio.Event()

        async def messages():
            yield ingest_pb2.UploadRequest(header=ingest_pb2.UploadHeader(resume_video_id=video_id))
            yield ingest_pb2.UploadRequest(chunk=chunk(0, b"a" * 1000))
            await quiet.wait()  # then nothing, until the test ends

        with pytest.raises(grpc.aio.AioRpcError) as closed:
            await stack.ingest.Upload(messages(), metadata=ALICE, timeout=60)
        quiet.set()
        assert closed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert reason_of(closed.value) == Reason.STREAM_IDLE
        state = (
            await stack.ingest.GetUploadState(
                ingest_pb2.GetIngestUploadStateRequest(video_id=video_id), metadata=ALICE, timeout=10
            )
        ).state
        assert list(state.stored_indices) == [0]
    finally:
        await stop()


async def test_the_byte_budget_makes_holders_wait_instead_of_overcommitting():
    budget = ByteBudget(100)
    first = await budget.acquire(60)
    second = await budget.acquire(40)
    third = asyncio.ensure_future(budget.acquire(30))
    await asyncio.sleep(0)
    assert not third.done() and budget.used == 100  # waits: nothing beyond the budget is held
    await budget.release(first)
    assert await asyncio.wait_for(third, 5) == 30
    assert budget.used == 70
    # A single chunk larger than the budget still goes through, alone.
    await budget.release(second)
    await budget.release(30)
    assert await budget.acquire(500) == 100
