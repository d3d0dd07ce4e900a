"""The stop path of a live recording: its thumbnail is made while it arrives, so READY at stop
runs no ffmpeg at all (no probe, no decode); a clip too short for a live thumbnail still gets one
at stop."""

from __future__ import annotations

import pytest

from media_service import pipeline
from recorder.v1 import common_pb2, ingest_pb2
from tests import media_tools
from tests.helpers import asset, chunk, split, user, wait_final, wait_until

ALICE = user("alice")


@pytest.fixture
def stop_runs(monkeypatch):
    """Every ffmpeg run of the processing job (the steps after the last chunk): its arguments."""
    runs: list[list[str]] = []
    real = pipeline.run_ffmpeg

    async def run(args, *rest, **options):
        runs.append(list(args))
        return await real(args, *rest, **options)

    monkeypatch.setattr(pipeline, "run_ffmpeg", run)
    return runs


async def upload(stack, data: bytes, before_last=None, chunk_size: int = 64 * 1024) -> str:
    video_id = (
        await stack.ingest.CreateUpload(
            ingest_pb2.CreateUploadRequest(title="live", content_type="video/webm;codecs=vp8,opus"),
            metadata=ALICE,
            timeout=10,
        )
    ).video_id
    parts = split(data, chunk_size)
    for i, part in enumerate(parts):
        if i == 1:  # hints are fire-and-forget: make sure a live session follows this upload
            await wait_until(lambda: stack.media.live.sessions.get(video_id), "a live session")
        if i == len(parts) - 1 and before_last is not None:
            await before_last(video_id)
        await stack.ingest.PutChunk(
            ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, part, i == len(parts) - 1)),
            metadata=ALICE,
            timeout=30,
        )
    return video_id


async def test_the_thumbnail_is_made_while_the_recording_arrives_and_ready_runs_no_ffmpeg(
    stack, recording_60s, stop_runs
):
    live_stack = stack
    thumbnails = live_stack.media.live.thumbnails

    async def thumbnail_made(video_id):
        session = live_stack.media.live.sessions[video_id]
        await wait_until(
            lambda: session._thumbnail is not None and session._thumbnail.ready, "a live thumbnail", timeout=120
        )

    # READY is what this is about: the renditions (a 60 s encode) are not waited for.
    video = await wait_final(
        live_stack,
        await upload(live_stack, recording_60s.read_bytes(), thumbnail_made, 256 * 1024),
        ALICE,
        renditions=False,
    )
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert live_stack.media.live.finished == 1, dict(live_stack.media.live.declined)
    assert thumbnails.made >= 1
    # No decode and no probe after the last chunk: the job only moved the live session's files.
    assert stop_runs == []
    thumbnail = asset(live_stack, video, common_pb2.ASSET_KIND_THUMBNAIL)
    assert not media_tools.is_uniform(thumbnail)
    assert abs(video.media.duration_seconds - 60.0) < 0.1
    assert (video.media.width, video.media.height) == (1280, 720)


async def test_a_clip_shorter_than_two_seconds_gets_its_thumbnail_at_stop(stack, tmp_path, stop_runs):
    clip = media_tools.make_webm(tmp_path / "short.webm", 1.5, size="640x360")
    video = await wait_final(stack, await upload(stack, clip.read_bytes(), chunk_size=32 * 1024), ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert stack.media.live.finished == 1, dict(stack.media.live.declined)
    assert stack.media.live.thumbnails.made == 0  # under the 4 s a live thumbnail waits for
    assert [args for args in stop_runs if any("thumbnail=" in a for a in args)], stop_runs
    assert not media_tools.is_uniform(asset(stack, video, common_pb2.ASSET_KIND_THUMBNAIL))
