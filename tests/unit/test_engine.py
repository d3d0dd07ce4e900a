"""The upload engine against fakes of its ports (tests/unit/fakes.py): the chunk path's rules
(check, write, record, discard what the catalog did not record, hand off once) without servers."""

from __future__ import annotations

import asyncio

import google_crc32c
import pytest

from ingest_service.engine import ChunkStream, IncomingChunk, UploadEngine
from ingest_service.settings import UploadLimits
from recorder_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, Reason, ResourceExhausted
from recorder_common.vocab import ChunkOutcome, VideoRef, VideoStatus
from tests.unit.fakes import FakeCatalog, FakeMedia, FakeStore


def chunk(index: int, data: bytes, is_last: bool = False) -> IncomingChunk:
    return IncomingChunk(index=index, data=data, is_last=is_last, crc32c=google_crc32c.value(data))


@pytest.fixture
def parts() -> tuple[UploadEngine, FakeStore, FakeCatalog, FakeMedia]:
    store, catalog, media = FakeStore(), FakeCatalog(), FakeMedia()
    return (
        UploadEngine(store, catalog, media, UploadLimits(max_chunk_bytes=100, max_upload_bytes=1000)),
        store,
        catalog,
        media,
    )


async def test_a_chunk_is_written_recorded_and_acknowledged(parts):
    engine, store, catalog, _ = parts
    vid = await engine.create_upload("alice", "t", "f.webm", "video/webm", 0)
    ack = await engine.put_chunk("alice", vid, chunk(0, b"hello"))
    assert ack.outcome == ChunkOutcome.STORED and ack.state.received_bytes == 5
    assert list(store.chunk_files("alice", vid).values()) == [b"hello"]


async def test_a_resent_chunk_is_a_duplicate_and_its_second_file_goes(parts):
    engine, store, _, _ = parts
    vid = await engine.create_upload("alice", "t", "f.webm", "video/webm", 0)
    await engine.put_chunk("alice", vid, chunk(0, b"hello"))
    again = await engine.put_chunk("alice", vid, chunk(0, b"hello"))
    assert again.outcome == ChunkOutcome.DUPLICATE and again.state.received_chunks == 1
    assert len(store.chunk_files("alice", vid)) == 1


async def test_different_bytes_for_a_stored_index_are_refused_and_the_stored_chunk_kept(parts):
    engine, store, _, _ = parts
    vid = await engine.create_upload("alice", "t", "f.webm", "video/webm", 0)
    await engine.put_chunk("alice", vid, chunk(0, b"hello"))
    with pytest.raises(AlreadyExists) as refused:
        await engine.put_chunk("alice", vid, chunk(0, b"HELLO"))
    assert refused.value.reason == Reason.CHUNK_CONFLICT
    assert list(store.chunk_files("alice", vid).values()) == [b"hello"]


async def test_a_bad_checksum_or_an_oversized_chunk_is_refused_before_any_write(parts):
    engine, store, catalog, _ = parts
    vid = await engine.create_upload("alice", "t", "f.webm", "video/webm", 0)
    with pytest.raises(InvalidArgument) as bad:
        await engine.put_chunk("alice", vid, IncomingChunk(0, b"hello", crc32c=1))
    assert bad.value.reason == Reason.CHECKSUM_MISMATCH
    with pytest.raises(ResourceExhausted) as big:
        await engine.put_chunk("alice", vid, chunk(0, b"x" * 101))
    assert big.value.reason == Reason.CHUNK_TOO_LARGE
    assert store.files == {} and catalog.record_calls == []


async def test_the_last_chunk_completes_the_upload_and_hands_it_to_media_once(parts):
    engine, _, _, media = parts
    vid = await engine.create_upload("alice", "t", "f.webm", "video/webm", 0)
    await engine.put_chunk("alice", vid, chunk(1, b"world", is_last=True))  # early: waits for the gap
    assert media.processed == []
    done = await engine.put_chunk("alice", vid, chunk(0, b"hello"))
    assert done.state.complete and done.state.status == VideoStatus.UPLOADED
    await engine.put_chunk("alice", vid, chunk(0, b"hello"))  # a late resend changes nothing
    assert media.processed == [VideoRef("alice", vid)]


async def test_a_finished_upload_takes_no_bytes_and_refuses_new_chunks(parts):
    engine, store, catalog, _ = parts
    vid = await engine.create_upload("alice", "t", "f.webm", "video/webm", 0)
    catalog.set_status(vid, VideoStatus.READY)
    with pytest.raises(FailedPrecondition) as refused:
        await engine.put_chunk("alice", vid, chunk(0, b"late"))
    assert refused.value.reason == Reason.UPLOAD_FINISHED
    assert store.files == {}


async def test_a_refused_request_removes_only_the_files_it_wrote():
    store, catalog, media = FakeStore(), FakeCatalog(), FakeMedia()
    engine = UploadEngine(store, catalog, media, UploadLimits(user_quota_bytes=8))  # the catalog applies it
    vid = await engine.create_upload("alice", "t", "f.webm", "video/webm", 0)
    await engine.put_chunk("alice", vid, chunk(0, b"hello"))
    with pytest.raises(ResourceExhausted) as refused:
        await engine.put_chunk("alice", vid, chunk(1, b"world"))  # 10 bytes: over the quota of 8
    assert refused.value.reason == Reason.QUOTA_EXCEEDED
    assert list(store.chunk_files("alice", vid).values()) == [b"hello"]


async def test_a_stream_records_its_chunks_in_batches_and_counts_duplicates(parts):
    engine, store, catalog, media = parts
    vid = await engine.create_upload("alice", "t", "f.webm", "video/webm", 0)
    await engine.put_chunk("alice", vid, chunk(0, b"c0"))
    stream = await engine.open_stream("alice", vid)
    assert isinstance(stream, ChunkStream)
    catalog.record_calls.clear()
    for i in range(5):
        await stream.add(chunk(i, f"c{i}".encode(), is_last=i == 4))
    assert await stream.finish() == 1  # chunk 0 was stored before
    assert len(catalog.record_calls) < 5  # fewer round trips than chunks
    assert sorted(i for i, _ in store.chunk_files("alice", vid)) == [0, 1, 2, 3, 4]
    assert media.processed == [VideoRef("alice", vid)]


async def test_a_stored_chunks_hint_names_the_file_the_catalog_recorded_and_a_duplicate_none(parts):
    """media reads hinted chunks by the token the hint names (no ListChunks per chunk), so it must
    be the recorded write's: never a duplicate's, whose file goes."""
    engine, store, _, media = parts
    vid = await engine.create_upload("alice", "t", "f.webm", "video/webm", 0)
    await engine.put_chunk("alice", vid, chunk(0, b"hello"))
    await engine.put_chunk("alice", vid, chunk(0, b"hello"))  # a duplicate: no hint of its file
    await asyncio.gather(*engine.chunks._hints)  # hints are sent in the background
    assert media.hints == [(vid, 0)]
    assert media.hinted_files == {0: token for (index, token) in store.chunk_files("alice", vid)}
