"""Two ingest services on one storage folder and one database: the same chunks sent to both at
once still give one stored chunk per index and one processing run."""

from __future__ import annotations

import asyncio

import pytest

from recorder.v1 import common_pb2, ingest_pb2
from tests import media_tools
from tests.conftest import start_stack
from tests.helpers import asset, chunk, split, status_events, user, wait_final

ALICE = user("alice")


pytestmark = pytest.mark.both_backends


@pytest.fixture
async def two_replicas(database_url, tmp_path, storage_backend):
    stack, stop = await start_stack(database_url, tmp_path / "storage", ingest_replicas=2, storage=storage_backend)
    yield stack
    await stop()


async def test_same_chunks_to_both_replicas_concurrently(two_replicas, recording_3s):
    stack = two_replicas
    a, b = stack.ingest_at(0), stack.ingest_at(1)
    parts = split(recording_3s.read_bytes(), 32 * 1024)
    assert len(parts) >= 5
    video_id = (
        await a.CreateUpload(ingest_pb2.CreateUploadRequest(title="twice", content_type="video/webm"), metadata=ALICE)
    ).video_id

    async def send(stub, i):
        request = ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, parts[i], i == len(parts) - 1))
        return (await stub.PutChunk(request, metadata=ALICE, timeout=30)).ack

    acks = await asyncio.gather(*[send(stub, i) for i in range(len(parts)) for stub in (a, b)])
    for i in range(len(parts)):
        outcomes = sorted(ack.outcome for ack in acks if ack.index == i)
        assert outcomes == [common_pb2.CHUNK_OUTCOME_STORED, common_pb2.CHUNK_OUTCOME_DUPLICATE]
    video = await wait_final(stack, video_id, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert sum(e.message.startswith("attempt") for e in video.history) == 1
    # A live encode's claim or give-back while the video is still UPLOADED adds a rendition event
    # with that status (a slow CI run had one): completions are counted without them.
    assert sum(e.status == common_pb2.VIDEO_STATUS_UPLOADED for e in status_events(video)) == 1
    assert media_tools.sha256_file(asset(stack, video, common_pb2.ASSET_KIND_SOURCE)) == media_tools.sha256_file(
        recording_3s
    )


async def test_chunks_alternating_between_replicas(two_replicas, recording_3s):
    stack = two_replicas
    stubs = [stack.ingest_at(0), stack.ingest_at(1)]
    parts = split(recording_3s.read_bytes(), 32 * 1024)
    video_id = (
        await stubs[1].CreateUpload(ingest_pb2.CreateUploadRequest(content_type="video/webm"), metadata=ALICE)
    ).video_id
    for i in reversed(range(len(parts))):  # out of order too
        await stubs[i % 2].PutChunk(
            ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, parts[i], i == len(parts) - 1)),
            metadata=ALICE,
            timeout=30,
        )
    video = await wait_final(stack, video_id, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert media_tools.sha256_file(asset(stack, video, common_pb2.ASSET_KIND_SOURCE)) == media_tools.sha256_file(
        recording_3s
    )
