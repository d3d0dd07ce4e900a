"""A chunked screen recording becomes a compressed, thumbnailed, catalogued video: real servers on
ephemeral ports, real ffmpeg, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import pathlib
import re
import sys

import grpc
import pytest

from recorder.v1 import catalog_pb2, common_pb2, ingest_pb2
from tests import media_tools
from tests.helpers import MiB, asset, chunk, split, upload_and_wait, upload_unary, user, wait_chunks_removed, wait_final

ALICE = user("alice")


async def check_ready_video(stack, video, source_path):
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    # The assembled upload is byte-for-byte what the client sent.
    source = asset(stack, video, common_pb2.ASSET_KIND_SOURCE)
    assert media_tools.sha256_file(source) == media_tools.sha256_file(source_path)
    # The input was written like MediaRecorder output: no duration in its header...
    assert media_tools.probe(source_path).duration_seconds is None
    _, source_seconds, _ = media_tools.decode_fully(source_path)
    # ...and the catalog has the right one, from the remuxed original, which now carries it.
    assert video.media.duration_seconds == pytest.approx(source_seconds, abs=0.1)
    original = asset(stack, video, common_pb2.ASSET_KIND_ORIGINAL)
    assert media_tools.probe(original).duration_seconds == pytest.approx(source_seconds, abs=0.1)
    # The MP4 decodes fully, as long as the source.
    mp4 = asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED)
    clean, mp4_seconds, errors = media_tools.decode_fully(mp4)
    assert clean, errors
    assert mp4_seconds == pytest.approx(source_seconds, abs=0.1)
    probed = media_tools.probe(mp4)
    assert probed.video.codec == "h264" and probed.audio.codec == "aac"
    assert (video.media.width, video.media.height) == (1280, 720)
    assert video.media.video_codec == "vp8" and video.media.audio_codec == "opus"
    # +faststart: the index (moov) comes before the media data (mdat).
    boxes = media_tools.top_level_boxes(mp4)
    assert boxes.index("moov") < boxes.index("mdat"), boxes
    thumb = asset(stack, video, common_pb2.ASSET_KIND_THUMBNAIL)
    assert not media_tools.is_uniform(thumb)
    statuses = [e.status for e in video.history]
    assert statuses[0] == common_pb2.VIDEO_STATUS_UPLOADING
    assert statuses[-1] == common_pb2.VIDEO_STATUS_READY
    assert common_pb2.VIDEO_STATUS_UPLOADED in statuses and common_pb2.VIDEO_STATUS_PROCESSING in statuses
    # Chunks are removed once the source holds every byte (on either backend).
    await wait_chunks_removed(stack, "alice", video.video_id)


@pytest.mark.both_backends
async def test_cli_streams_a_recording_to_ready(stack, recording_60s):
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "recorder_cli",
        "--user",
        "alice",
        "upload",
        str(recording_60s),
        "--chunk-size",
        "1MiB",
        env=stack.env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 900)
    assert process.returncode == 0, err.decode()
    video_id = re.search(r"^video ([0-9a-f]{32})$", out.decode(), re.M).group(1)
    assert "100.0%" in err.decode()  # the progress bar reached the end
    lines = out.decode().splitlines()
    # Two kinds of done: ready to watch first, then the compressed rendition's own READY.
    assert lines.index("READY (ready to watch)") < lines.index("  compressed READY"), lines
    video = await wait_final(stack, video_id, ALICE)
    assert video.received_chunks == -(-recording_60s.stat().st_size // MiB)
    await check_ready_video(stack, video, recording_60s)


@pytest.mark.both_backends
async def test_unary_chunks_reach_ready(stack, recording_60s):
    video_id = await upload_unary(stack, recording_60s.read_bytes(), ALICE)
    updates = [
        u
        async for u in stack.catalog.WatchVideo(
            catalog_pb2.WatchVideoRequest(video_id=video_id), metadata=ALICE, timeout=900
        )
    ]
    assert updates[-1].status == common_pb2.VIDEO_STATUS_READY
    video = await wait_final(stack, video_id, ALICE)
    await check_ready_video(stack, video, recording_60s)


@pytest.mark.both_backends
async def test_watch_is_private_and_ends_on_failure(stack):
    video_id = await upload_unary(stack, b"garbage" * 100, ALICE)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in stack.catalog.WatchVideo(
            catalog_pb2.WatchVideoRequest(video_id=video_id), metadata=user("bob"), timeout=10
        ):
            pass
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    updates = [
        u
        async for u in stack.catalog.WatchVideo(
            catalog_pb2.WatchVideoRequest(video_id=video_id), metadata=ALICE, timeout=60
        )
    ]
    assert updates[-1].status == common_pb2.VIDEO_STATUS_FAILED
    assert updates[-1].error_step == common_pb2.PROCESSING_STEP_PROBE and updates[-1].error


@pytest.mark.both_backends
async def test_garbage_upload_fails_readably_and_services_keep_serving(stack, recording_3s):
    video_id = await upload_unary(stack, b"this is not a video at all\n" * 5000, ALICE)
    video = await wait_final(stack, video_id, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_FAILED
    assert video.error_step == common_pb2.PROCESSING_STEP_PROBE
    assert "not a readable recording" in video.error
    assert video.history[-1].status == common_pb2.VIDEO_STATUS_FAILED
    # The stack still works: a real recording right after goes through.
    good = await upload_unary(stack, recording_3s.read_bytes(), ALICE)
    assert (await wait_final(stack, good, ALICE)).status == common_pb2.VIDEO_STATUS_READY


@pytest.mark.both_backends
async def test_short_clip_gets_a_thumbnail(stack, tmp_path):
    clip = media_tools.make_webm(tmp_path / "short.webm", 1.0, size="640x360")
    video_id = await upload_unary(stack, clip.read_bytes(), ALICE, chunk_size=64 * 1024)
    video = await wait_final(stack, video_id, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert not media_tools.is_uniform(asset(stack, video, common_pb2.ASSET_KIND_THUMBNAIL))
    assert video.media.duration_seconds == pytest.approx(1.0, abs=0.1)


@pytest.mark.both_backends
async def test_video_only_recording(stack, tmp_path):
    clip = media_tools.make_webm(tmp_path / "silent.webm", 2.0, size="640x360", audio=False)
    video = await upload_and_wait(stack, clip.read_bytes(), ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert video.media.audio_codec == ""
    mp4 = asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED)
    assert media_tools.probe(mp4).audio is None


@pytest.mark.both_backends
async def test_other_users_see_nothing(stack, recording_3s):
    video_id = await upload_unary(stack, recording_3s.read_bytes(), ALICE)
    await wait_final(stack, video_id, ALICE)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stack.catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=user("bob"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await stack.catalog.ListVideos(catalog_pb2.ListVideosRequest(), metadata=user("bob"), timeout=10)
    assert list(listed.videos) == []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stack.ingest.GetUploadState(
            ingest_pb2.GetIngestUploadStateRequest(video_id=video_id), metadata=user("bob"), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.both_backends
async def test_the_ffmpeg_of_the_imageio_wheel_is_enough(database_url, tmp_path, storage_backend, recording_3s):
    """Without a system ffmpeg the media service falls back to the wheel's binary, which has no
    ffprobe: processing must not need one (and on S3 it reads the stored files over HTTP)."""
    import imageio_ffmpeg

    from tests.conftest import start_stack

    bundled = imageio_ffmpeg.get_ffmpeg_exe()
    assert not (pathlib.Path(bundled).parent / "ffprobe").exists()
    stack, stop = await start_stack(
        database_url, tmp_path / "s", storage=storage_backend, media_overrides={"ffmpeg_binary": bundled}
    )
    try:
        video = await upload_and_wait(stack, recording_3s.read_bytes(), ALICE)
        assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
        assert video.media.duration_seconds == pytest.approx(3.0, abs=0.1)
        clean, _, errors = media_tools.decode_fully(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))
        assert clean, errors
        assert not media_tools.is_uniform(asset(stack, video, common_pb2.ASSET_KIND_THUMBNAIL))
    finally:
        await stop()


@pytest.mark.both_backends
async def test_ready_comes_before_the_compressed_rendition_whose_progress_moves_from_0_to_1(
    database_url, tmp_path, storage_backend, recording_60s
):
    """Two kinds of done, on the batch path (the compressed rendition encoded from the queue after
    READY): the watch stream shows READY (watchable: seekable original, thumbnail, duration) while
    the rendition is still to come, then the rendition's progress from 0 to 1 and its READY with
    an asset that decodes."""
    from tests.conftest import start_stack

    stack, stop = await start_stack(
        database_url, tmp_path / "s", storage=storage_backend, media_overrides={"max_live_sessions": 0}
    )
    try:
        await check_two_kinds_of_done(stack, recording_60s)
    finally:
        await stop()


async def check_two_kinds_of_done(stack, recording_60s):
    video_id = (
        await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title="progress"), metadata=ALICE, timeout=10)
    ).video_id
    updates = []

    async def watch():
        async for update in stack.catalog.WatchVideo(
            catalog_pb2.WatchVideoRequest(video_id=video_id), metadata=ALICE, timeout=900
        ):
            updates.append(update)

    watcher = asyncio.ensure_future(watch())
    parts = split(recording_60s.read_bytes())
    for i, part in enumerate(parts):
        await stack.ingest.PutChunk(
            ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, part, i == len(parts) - 1)),
            metadata=ALICE,
            timeout=30,
        )
    await asyncio.wait_for(watcher, 900)
    R = common_pb2
    first_ready = next(i for i, u in enumerate(updates) if u.status == R.VIDEO_STATUS_READY)
    assert updates[first_ready].renditions[0].state in (R.RENDITION_STATE_PENDING, R.RENDITION_STATE_PROCESSING)
    assert all(u.status == R.VIDEO_STATUS_READY for u in updates[first_ready:])  # never un-READY
    encoding = [
        u.renditions[0].progress for u in updates[first_ready:] if u.renditions[0].state == R.RENDITION_STATE_PROCESSING
    ]
    # The watch samples the catalog, so it may step from 0.9x straight to READY.
    assert encoding[0] == 0.0 and encoding[-1] >= 0.5, encoding
    assert encoding == sorted(encoding), encoding  # never goes back
    assert len(set(encoding)) >= 3, encoding  # and moves in steps a person can watch
    last = updates[-1].renditions[0]
    assert last.state == R.RENDITION_STATE_READY and last.progress == 1.0 and not last.error
    assert last.asset.kind == R.ASSET_KIND_COMPRESSED
    video = await wait_final(stack, video_id, ALICE)
    mp4 = asset(stack, video, R.ASSET_KIND_COMPRESSED)
    assert mp4.stat().st_size == last.asset.size_bytes
    assert media_tools.probe(mp4).video.codec == "h264"
    clean, seconds, errors = media_tools.decode_fully(mp4)
    assert clean, errors
    assert seconds == pytest.approx(video.media.duration_seconds, abs=0.2)


# Local storage only: the profile changes the encoder, not how files are stored or read.
@pytest.mark.parametrize("name,codec", [("h264-small", "h264"), ("vp9", "vp9"), ("av1", "av1")])
async def test_other_compression_profiles_reach_ready(database_url, tmp_path, recording_3s, name, codec):
    from media_service.settings import PROFILES
    from tests.conftest import start_stack

    stack, stop = await start_stack(database_url, tmp_path / "s", media_overrides={"profile": PROFILES[name]})
    try:
        video = await upload_and_wait(stack, recording_3s.read_bytes(), ALICE)
        assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
        compressed = asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED)
        assert compressed.suffix == f".{PROFILES[name].container}"
        probed = media_tools.probe(compressed)
        assert probed.video.codec == codec and probed.audio.codec in ("aac", "opus")
        clean, seconds, errors = media_tools.decode_fully(compressed)
        assert clean, errors
        assert seconds == pytest.approx(3.0, abs=0.15)
    finally:
        await stop()
