"""Abort, delete, expiry, quotas and explicit retry, through real servers."""

from __future__ import annotations

import grpc
import pytest

from ingest_service.settings import UploadLimits
from recorder_common.storage import new_write_token
from recorder.v1 import catalog_pb2, common_pb2, ingest_pb2
from tests import media_tools
from tests.conftest import SteppedClock, start_stack
from recorder_common.errors import Reason
from tests.helpers import (
    asset,
    chunk,
    create_upload,
    expect,
    put_chunk,
    upload_unary,
    user,
    wait_chunks_removed,
    wait_final,
)

pytestmark = pytest.mark.both_backends

ALICE, BOB = user("alice"), user("bob")


def stored(stack, video_id, owner="alice") -> list[str]:
    """The names of a video's stored files (chunks/… included), on either backend."""
    prefix = f"users/{owner}/videos/{video_id}/"
    return [key[len(prefix) :] for key in stack.keys(prefix)]


def retry_processing(stack, video_id, md):
    return stack.ingest.RetryProcessing(
        ingest_pb2.RetryVideoProcessingRequest(video_id=video_id), metadata=md, timeout=10
    )


async def state(stack, video_id, md=ALICE):
    return (
        await stack.ingest.GetUploadState(
            ingest_pb2.GetIngestUploadStateRequest(video_id=video_id), metadata=md, timeout=10
        )
    ).state


async def test_missing_checksum_is_refused(stack):
    vid = await create_upload(stack, ALICE)
    await expect(grpc.StatusCode.INVALID_ARGUMENT, put_chunk(stack, vid, ingest_pb2.Chunk(index=0, data=b"x"), ALICE))
    assert stored(stack, vid) == []


async def test_abort_removes_the_bytes_and_only_the_owner_can(stack):
    vid = await create_upload(stack, ALICE)
    await put_chunk(stack, vid, chunk(0, b"a" * 100), ALICE)
    await put_chunk(stack, vid, chunk(2, b"c" * 100), ALICE)
    await expect(
        grpc.StatusCode.NOT_FOUND,
        stack.ingest.AbortUpload(ingest_pb2.AbortUploadRequest(video_id=vid), metadata=BOB, timeout=10),
    )
    assert (await state(stack, vid)).received_chunks == 2  # intact after bob's attempt
    await stack.ingest.AbortUpload(ingest_pb2.AbortUploadRequest(video_id=vid), metadata=ALICE, timeout=10)
    assert stored(stack, vid) == []
    await expect(grpc.StatusCode.NOT_FOUND, state(stack, vid))
    await expect(grpc.StatusCode.NOT_FOUND, put_chunk(stack, vid, chunk(1, b"b"), ALICE))
    assert stored(stack, vid) == []


async def test_abort_of_a_finished_upload_is_a_precondition_error(stack):
    vid = await create_upload(stack, ALICE)
    await put_chunk(stack, vid, chunk(0, b"garbage", is_last=True), ALICE)
    await wait_final(stack, vid, ALICE)
    await expect(
        grpc.StatusCode.FAILED_PRECONDITION,
        stack.ingest.AbortUpload(ingest_pb2.AbortUploadRequest(video_id=vid), metadata=ALICE, timeout=10),
    )


async def test_delete_removes_files_then_rows(stack, recording_3s):
    vid = await upload_unary(stack, recording_3s.read_bytes(), ALICE)
    video = await wait_final(stack, vid, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY
    await expect(
        grpc.StatusCode.NOT_FOUND,
        stack.ingest.DeleteVideo(ingest_pb2.DeleteVideoRequest(video_id=vid), metadata=BOB, timeout=10),
    )
    assert asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED).exists()
    await stack.ingest.DeleteVideo(ingest_pb2.DeleteVideoRequest(video_id=vid), metadata=ALICE, timeout=10)
    assert stored(stack, vid) == []
    await expect(
        grpc.StatusCode.NOT_FOUND,
        stack.catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=vid), metadata=ALICE, timeout=10),
    )
    listed = await stack.catalog.ListVideos(catalog_pb2.ListVideosRequest(), metadata=ALICE, timeout=10)
    assert vid not in [v.video_id for v in listed.videos]
    # The janitor purges the tombstone's rows once the grace period is over.
    stack.janitor.tombstone_grace_seconds = 0
    report = await stack.janitor.run_once()
    assert report.purged == 1
    assert await stack.janitor.catalog.list_deleted(0, 10) == []
    await expect(
        grpc.StatusCode.NOT_FOUND,
        stack.ingest.DeleteVideo(ingest_pb2.DeleteVideoRequest(video_id=vid), metadata=ALICE, timeout=10),
    )


async def test_a_ready_videos_chunks_are_forgotten_after_the_grace_with_any_files_left(stack, recording_3s):
    """Media deletes the chunk files right after READY; if it died first they would stay forever.
    After READY_CHUNKS_GRACE_SECONDS the janitor removes whatever chunk files are left and drops
    the chunk rows. Until then a resent chunk is a harmless duplicate; after, it is refused."""
    data = recording_3s.read_bytes()
    vid = await upload_unary(stack, data, ALICE, chunk_size=64 * 1024)
    video = await wait_final(stack, vid, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    await wait_chunks_removed(stack, "alice", vid)
    # A media worker killed between READY and its cleanup leaves the chunk files behind.
    await stack.janitor.store.write_chunk("alice", vid, 0, new_write_token(), data[: 64 * 1024])
    await stack.janitor.store.write_chunk("alice", vid, 1, new_write_token(), data[64 * 1024 : 128 * 1024])
    resend = await put_chunk(stack, vid, chunk(0, data[: 64 * 1024]), ALICE)  # within the grace: a duplicate
    assert resend.outcome == common_pb2.CHUNK_OUTCOME_DUPLICATE
    assert (await stack.janitor.run_once()).chunks_forgotten == 0  # not READY for an hour yet
    stack.janitor.ready_chunks_grace_seconds = 0
    stack.janitor.batch = 1  # a full batch: the janitor asks again until the backlog is done
    assert (await stack.janitor.run_once()).chunks_forgotten == 1
    assert [name for name in stored(stack, vid) if name.startswith("chunks/")] == []
    assert (await state(stack, vid)).stored_indices == []
    assert await stack.janitor.catalog.list_ready_with_chunks(0, 10) == []
    await expect(
        grpc.StatusCode.FAILED_PRECONDITION,
        put_chunk(stack, vid, chunk(0, data[: 64 * 1024]), ALICE),
        Reason.UPLOAD_FINISHED,
    )
    assert [name for name in stored(stack, vid) if name.startswith("chunks/")] == []
    # The outputs are untouched.
    assert media_tools.sha256_file(asset(stack, video, common_pb2.ASSET_KIND_SOURCE)) == media_tools.sha256_file(
        recording_3s
    )


async def test_abandoned_uploads_expire_and_lose_their_bytes(database_url, tmp_path, storage_backend):
    clock = SteppedClock()  # the catalog's: idle times do not depend on how fast the machine is
    stack, stop = await start_stack(
        database_url,
        tmp_path / "s",
        storage=storage_backend,
        catalog_clock=clock,
        ingest_overrides={"upload_idle_expiry_seconds": 600},
    )
    try:
        idle = await create_upload(stack, ALICE)
        await put_chunk(stack, idle, chunk(0, b"x" * 1000), ALICE)
        clock.advance(3600)  # idle for an hour; busy (below) for far less than the 600 s allowed
        busy = await create_upload(stack, ALICE)
        await put_chunk(stack, busy, chunk(0, b"y" * 10), ALICE)
        report = await stack.janitor.run_once()
        assert report.expired == 1
        assert stored(stack, idle) == [] and stored(stack, busy)
        video = (
            await stack.catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=idle), metadata=ALICE, timeout=10)
        ).video
        assert video.status == common_pb2.VIDEO_STATUS_EXPIRED
        assert video.history[-1].status == common_pb2.VIDEO_STATUS_EXPIRED
        await expect(
            grpc.StatusCode.FAILED_PRECONDITION,
            put_chunk(stack, idle, chunk(1, b"late"), ALICE),
            Reason.UPLOAD_FINISHED,
        )
        assert stored(stack, idle) == []
    finally:
        await stop()


async def test_upload_size_and_user_quota(database_url, tmp_path, storage_backend):
    limits = UploadLimits(max_upload_bytes=2500, user_quota_bytes=3000)
    stack, stop = await start_stack(database_url, tmp_path / "s", limits=limits, storage=storage_backend)
    try:
        first = await create_upload(stack, ALICE)
        await put_chunk(stack, first, chunk(0, b"a" * 2000), ALICE)
        too_big = await create_upload(stack, ALICE)
        details = await expect(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            put_chunk(stack, too_big, chunk(0, b"b" * 2600), ALICE),
            Reason.UPLOAD_TOO_LARGE,
        )
        assert "2500" in details  # the message names the limit
        second = await create_upload(stack, ALICE)
        await put_chunk(stack, second, chunk(0, b"c" * 500), ALICE)
        await expect(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            put_chunk(stack, second, chunk(1, b"d" * 600), ALICE),
            Reason.QUOTA_EXCEEDED,
        )
        # The refused chunk left nothing behind and the stored ones are intact.
        assert [name.split(".")[0] for name in stored(stack, second)] == ["chunks/0000000000"]
        assert (await state(stack, second)).received_bytes == 500
        # Bob has his own quota.
        bobs = await create_upload(stack, BOB)
        await put_chunk(stack, bobs, chunk(0, b"e" * 2000), BOB)
        # Deleting a video gives the space back.
        await stack.ingest.DeleteVideo(ingest_pb2.DeleteVideoRequest(video_id=first), metadata=ALICE, timeout=10)
        ack = await put_chunk(stack, second, chunk(1, b"d" * 600), ALICE)
        assert ack.state.received_bytes == 1100
    finally:
        await stop()


async def test_failed_processing_can_be_retried_after_a_fix(database_url, tmp_path, storage_backend, recording_3s):
    # The fixed stack is a restart of the broken one: the same database and the same storage.
    broken, stop_broken = await start_stack(
        database_url, tmp_path / "storage", storage=storage_backend, media_overrides={"ffmpeg_binary": "/bin/false"}
    )
    try:
        vid = await upload_unary(broken, recording_3s.read_bytes(), ALICE)
        failed = await wait_final(broken, vid, ALICE)
        assert failed.status == common_pb2.VIDEO_STATUS_FAILED and failed.error
        await expect(
            grpc.StatusCode.NOT_FOUND,
            retry_processing(broken, vid, BOB),
        )
    finally:
        await stop_broken()
    fixed, stop_fixed = await start_stack(database_url, tmp_path / "storage", storage=storage_backend)
    try:
        await retry_processing(fixed, vid, ALICE)
        video = await wait_final(fixed, vid, ALICE)
        assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
        assert video.error == ""
        assert media_tools.sha256_file(asset(fixed, video, common_pb2.ASSET_KIND_SOURCE)) == media_tools.sha256_file(
            recording_3s
        )
        await expect(
            grpc.StatusCode.FAILED_PRECONDITION,
            retry_processing(fixed, vid, ALICE),
        )
    finally:
        await stop_fixed()
