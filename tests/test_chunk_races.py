"""Nothing acknowledged is ever lost, whatever interleaves: races between retries, refusals,
replicas, aborts, deletes and the janitor, through real servers on both storage backends.

Invariants checked after every run:
- every acknowledged chunk is in the assembled source, unless its upload was aborted or deleted;
- the catalog's chunk rows and the stored chunk files agree (every recorded chunk's file is there,
  with the recorded size and CRC32C; no refused or duplicate write's file stays behind);
- the upload completed (UPLOADING -> UPLOADED) at most once, and was processed once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random

import google_crc32c
import grpc
import pytest

from ingest_service.settings import UploadLimits
from recorder.v1 import catalog_pb2, common_pb2, ingest_pb2
from recorder_common.auth import ServiceTokenSigner
from recorder_common.storage import chunk_name
from tests.conftest import AUTH, start_stack
from tests.helpers import asset, chunk, split, status_events, user, wait_final

pytestmark = pytest.mark.both_backends

ALICE = user("alice")
CHUNK = 48 * 1024


def service_for(owner: str):
    return (("authorization", f"Bearer {ServiceTokenSigner(AUTH, 'ingest').token()}"), ("x-on-behalf-of", owner))


async def recorded_chunks(stack, owner: str, video_id: str) -> list[catalog_pb2.StoredChunk]:
    response = await stack.catalog.ListChunks(
        catalog_pb2.ListChunksRequest(video_id=video_id, limit=10000), metadata=service_for(owner), timeout=10
    )
    return list(response.chunks)


async def assert_rows_and_files_agree(stack, owner: str, video_id: str) -> None:
    """Every recorded chunk's own file is stored with the recorded bytes, and no other chunk file
    (a refused or duplicate write's) is left."""
    # Read before the files: once the upload is complete, media assembles the source and removes
    # the chunk files (all, or some while it is at it), so only then may files be missing.
    complete = (await video_state(stack, owner, video_id)).status != common_pb2.VIDEO_STATUS_UPLOADING
    rows = await recorded_chunks(stack, owner, video_id)
    prefix = f"users/{owner}/videos/{video_id}/chunks/"
    expected = sorted(prefix + chunk_name(c.index, c.file_token or None) for c in rows)
    stored = stack.keys(prefix)
    if complete:
        assert set(stored) <= set(expected), "a refused or duplicate write left its chunk file"
    else:
        assert stored == expected
    for c in rows:
        key = prefix + chunk_name(c.index, c.file_token or None)
        try:
            data = stack.file(key).read_bytes()
        except FileNotFoundError:
            assert complete, f"chunk {c.index}'s file is gone before the upload is complete"
            continue
        assert (len(data), google_crc32c.value(data)) == (c.size_bytes, c.crc32c), f"chunk {c.index}"


async def video_state(stack, owner: str, video_id: str) -> common_pb2.Video:
    return (
        await stack.catalog.GetVideo(
            catalog_pb2.GetVideoRequest(video_id=video_id), metadata=service_for(owner), timeout=10
        )
    ).video


async def assert_completed_once(stack, video_id: str) -> None:
    video = (
        await stack.catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=ALICE, timeout=10)
    ).video
    uploaded = [e for e in status_events(video) if e.status == common_pb2.VIDEO_STATUS_UPLOADED]
    assert len(uploaded) == 1, [common_pb2.VideoStatus.Name(e.status) for e in video.history]


async def create(stub) -> str:
    created = await stub.CreateUpload(
        ingest_pb2.CreateUploadRequest(title="race", filename="race.webm", content_type="video/webm"),
        metadata=ALICE,
        timeout=10,
    )
    return created.video_id


RETRIED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def put(stub, video_id: str, c: ingest_pb2.Chunk):
    """The ack, or the refusal's status code. A transient failure (storage or a deadline on a busy
    machine: nothing acknowledged) is retried, as every client does."""
    for attempt in range(4):
        try:
            return (
                await stub.PutChunk(ingest_pb2.PutChunkRequest(video_id=video_id, chunk=c), metadata=ALICE, timeout=60)
            ).ack
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in RETRIED or attempt == 3:
                return exc.code()
            await asyncio.sleep(0.5 * (attempt + 1))


@pytest.fixture
async def two_replicas(database_url, tmp_path, storage_backend):
    stack, stop = await start_stack(database_url, tmp_path / "storage", storage=storage_backend, ingest_replicas=2)
    yield stack
    await stop()


async def test_a_refused_last_chunk_racing_its_accepted_duplicate_never_removes_the_acknowledged_chunk(
    two_replicas, recording_3s
):
    """The live defect: chunk 9 is stored; PutChunk(3, is_last) (refused: 9 exists past it) races
    PutChunk(3) with the same bytes on another replica. The refusal used to remove the file it had
    created, which the other request had found identical and recorded: acknowledged, then gone,
    and the upload failed at ASSEMBLE for good. Rounds run side by side to give the race chances."""
    stack = two_replicas
    data = recording_3s.read_bytes()
    parts = split(data, len(data) // 10 + 1)
    assert len(parts) == 10
    a, b = stack.ingest_at(0), stack.ingest_at(1)

    async def round_() -> tuple[str, object]:
        video_id = await create(a)
        assert isinstance(await put(a, video_id, chunk(9, parts[9])), ingest_pb2.ChunkAck)
        refused, accepted = await asyncio.gather(
            put(a, video_id, chunk(3, parts[3], is_last=True)), put(b, video_id, chunk(3, parts[3]))
        )
        assert refused == grpc.StatusCode.FAILED_PRECONDITION
        return video_id, accepted

    rounds = await asyncio.gather(*[round_() for _ in range(8)])
    for video_id, accepted in rounds:
        assert isinstance(accepted, ingest_pb2.ChunkAck), accepted
        for i in (0, 1, 2, 4, 5, 6, 7, 8):
            assert isinstance(await put(a, video_id, chunk(i, parts[i])), ingest_pb2.ChunkAck)
        assert isinstance(await put(b, video_id, chunk(9, parts[9], is_last=True)), ingest_pb2.ChunkAck)
    for video_id, _ in rounds:
        video = await wait_final(stack, video_id, ALICE)
        assert video.status == common_pb2.VIDEO_STATUS_READY, f"{video_id}: {video.error}"
        assert asset(stack, video, common_pb2.ASSET_KIND_SOURCE).read_bytes() == data


@dataclasses.dataclass
class Run:
    video_id: str
    acked: dict[int, bytes] = dataclasses.field(default_factory=dict)
    gone: bool = False  # aborted or deleted by its owner


async def test_seeded_interleavings_lose_no_acknowledged_chunk(database_url, tmp_path, storage_backend, recording_3s):
    """Random waves of concurrent operations on one upload, split over two connections to two
    ingest replicas: duplicates, refused is_last flags, over-quota chunks, different bytes for a
    stored index, janitor passes, and sometimes an abort or a delete; then the missing chunks to
    complete it. Each seed is one upload; the invariants hold after every one."""
    data = recording_3s.read_bytes()
    parts = split(data, CHUNK)
    last = len(parts) - 1
    # Room for one recording and a little: a large stray chunk is always over the quota.
    limits = UploadLimits(user_quota_bytes=len(data) * 12 + CHUNK)
    stack, stop = await start_stack(
        database_url, tmp_path / "storage", storage=storage_backend, ingest_replicas=2, limits=limits
    )
    try:
        stubs = [stack.ingest_at(0), stack.ingest_at(1)]
        for seed in range(10):
            rng = random.Random(seed)
            run = Run(await create(stubs[0]))
            ending = False
            hot = rng.sample(range(last), 3)  # a few indices, so operations on one index collide

            async def op(kind: str, index: int, stub) -> None:
                if kind == "put":
                    result = await put(stub, run.video_id, chunk(index, parts[index], is_last=index == last))
                    if isinstance(result, ingest_pb2.ChunkAck):
                        run.acked[index] = parts[index]
                    else:
                        assert run.gone, f"seed {seed}: chunk {index} refused with {result}"
                elif kind == "early_last":  # is_last on a chunk before the highest stored: refused
                    result = await put(stub, run.video_id, chunk(index, parts[index], is_last=True))
                    if isinstance(result, ingest_pb2.ChunkAck):
                        # Only as a harmless duplicate once the upload is complete.
                        assert (
                            result.outcome == common_pb2.CHUNK_OUTCOME_DUPLICATE
                            and result.state.status != common_pb2.VIDEO_STATUS_UPLOADING
                        ), f"seed {seed}: early last chunk {index} accepted"
                elif kind == "different":  # other bytes for a stored index: refused, stored kept
                    result = await put(stub, run.video_id, chunk(index, parts[index][::-1] + b"x"))
                    assert result in (
                        grpc.StatusCode.ALREADY_EXISTS,
                        grpc.StatusCode.NOT_FOUND,
                        grpc.StatusCode.FAILED_PRECONDITION,
                    ), result
                elif kind == "over_quota":
                    result = await put(stub, run.video_id, chunk(last - 1, b"q" * (len(data) * 12 + 2 * CHUNK)))
                    assert not isinstance(result, ingest_pb2.ChunkAck)
                elif kind == "janitor":
                    await stack.janitor.run_once()
                elif kind in ("abort", "delete"):
                    run.gone = True
                    request = (
                        ingest_pb2.AbortUploadRequest(video_id=run.video_id)
                        if kind == "abort"
                        else ingest_pb2.DeleteVideoRequest(video_id=run.video_id)
                    )
                    method = stub.AbortUpload if kind == "abort" else stub.DeleteVideo
                    try:
                        await method(request, metadata=ALICE, timeout=10)
                    except grpc.aio.AioRpcError as exc:
                        # An abort after completion is refused; a second ending finds nothing.
                        assert exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
                        run.gone = exc.code() == grpc.StatusCode.NOT_FOUND

            # Chunk `last` is sent early with is_last, so early_last flags are refused; the
            # "different" ops aim at indices acknowledged in an earlier wave.
            await op("put", last, stubs[0])
            for _ in range(8):
                wave = []
                for _ in range(rng.randint(2, 5)):
                    stub = stubs[rng.randint(0, 1)]
                    roll = rng.random()
                    fresh = [i for i in range(last) if i not in run.acked]
                    index = rng.choice(fresh) if fresh and rng.random() < 0.6 else rng.choice(hot)
                    if roll < 0.15:  # a refused is_last and a plain send of one chunk, side by side
                        wave += [op("early_last", index, stub), op("put", index, stubs[stubs[0] is stub])]
                    elif roll < 0.45:
                        wave.append(op("put", index, stub))
                    elif roll < 0.65:
                        wave.append(op("early_last", index, stub))
                    elif roll < 0.75 and run.acked:
                        wave.append(op("different", rng.choice(sorted(run.acked)), stub))
                    elif roll < 0.85:
                        wave.append(op("over_quota", index, stub))
                    elif roll < 0.97:
                        wave.append(op("janitor", 0, stub))
                    elif not ending:
                        ending = True
                        wave.append(op(rng.choice(["abort", "delete"]), 0, stub))
                await asyncio.gather(*wave)
                if run.gone:
                    break
            if run.gone:
                continue
            await assert_rows_and_files_agree(stack, "alice", run.video_id)
            # Then only the chunks never acknowledged: a resend of an acknowledged one would mend
            # a loss and hide it. Two copies of each, on both replicas, race each other.
            missing = [i for i in range(last) if i not in run.acked]
            await asyncio.gather(
                *[op("put", i, stubs[i % 2]) for i in missing], *[op("put", i, stubs[(i + 1) % 2]) for i in missing]
            )
            assert sorted(run.acked) == list(range(last + 1))
            video = await wait_final(stack, run.video_id, ALICE)
            assert video.status == common_pb2.VIDEO_STATUS_READY, f"seed {seed}: {video.error}"
            assert (
                asset(stack, video, common_pb2.ASSET_KIND_SOURCE).read_bytes()
                == b"".join(run.acked[i] for i in range(last + 1))
                == data
            )
            await assert_completed_once(stack, run.video_id)
            attempts = [
                e
                for e in video.history
                if e.status == common_pb2.VIDEO_STATUS_PROCESSING and e.step == common_pb2.PROCESSING_STEP_ASSEMBLE
            ]
            assert len(attempts) == 1, f"seed {seed}: processed {len(attempts)} times"
    finally:
        await stop()


async def test_refused_and_duplicate_writes_leave_no_file_and_rows_match_files(two_replicas, recording_3s):
    """Before completion: every refusal and every duplicate took its own file back, and only the
    recorded writes' files are stored."""
    stack = two_replicas
    data = recording_3s.read_bytes()
    parts = split(data, CHUNK)
    a, b = stack.ingest_at(0), stack.ingest_at(1)
    video_id = await create(a)
    await put(a, video_id, chunk(5, parts[5]))
    results = await asyncio.gather(
        put(a, video_id, chunk(2, parts[2])),
        put(b, video_id, chunk(2, parts[2])),  # duplicates
        put(a, video_id, chunk(2, parts[2], is_last=True)),  # refused last
        put(b, video_id, chunk(5, parts[6])),  # different bytes
        put(a, video_id, chunk(3, b"")),  # empty, not last
    )
    assert isinstance(results[0], ingest_pb2.ChunkAck) and isinstance(results[1], ingest_pb2.ChunkAck)
    assert sorted(r.outcome for r in results[:2]) == [
        common_pb2.CHUNK_OUTCOME_STORED,
        common_pb2.CHUNK_OUTCOME_DUPLICATE,
    ]
    assert results[2:] == [
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.INVALID_ARGUMENT,
    ]
    await assert_rows_and_files_agree(stack, "alice", video_id)
    assert [c.index for c in await recorded_chunks(stack, "alice", video_id)] == [2, 5]
