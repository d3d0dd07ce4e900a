"""On-demand work stops when its reason is gone: the caller cancels the RPC (goes away), or the
video is deleted while its output is made. Real servers in this process, real ffmpeg."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pathlib
import time

import grpc
import pytest

from media_service.settings import PROFILES, MediaLimits
from recorder.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc, media_pb2, media_pb2_grpc
from tests.conftest import start_stack
from tests.helpers import MiB, upload_unary, user, wait_final

pytestmark = pytest.mark.one_database  # ffmpeg and files: the catalog's database plays no part

ALICE = user("alice")
STOP_WITHIN_SECONDS = 2.0
# The bomb's 10 h processed cheaply (a tiny compressed copy), so it is READY in seconds here.
CHEAP = dataclasses.replace(PROFILES["h264"], max_height=144, video_options=(("preset", "ultrafast"), ("crf", 40)))


def ffmpegs_naming(video_id: str) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (
                    video_id.encode() in (entry / "cmdline").read_bytes()
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
                ):
                    found.append(int(entry.name))
            except (OSError, IndexError):
                pass
    return found


def ffmpegs_reading(video_id: str) -> list[int]:
    """ffmpegs that have one of the video's files open (started and past opening their input)."""
    reading = []
    for pid in ffmpegs_naming(video_id):
        try:
            if any(video_id in os.readlink(fd) for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir()):
                reading.append(pid)
        except OSError:
            pass
    return reading


async def until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return value


async def seconds_until_none(video_id: str, limit: float) -> float:
    started = time.monotonic()
    await until(lambda: not ffmpegs_naming(video_id), limit * 5, "the ffmpeg to end")
    return time.monotonic() - started


@pytest.fixture(scope="session")
def still_image_bomb(tmp_path_factory) -> pathlib.Path:
    from tests.media_bombs import make_still_image_bomb

    return make_still_image_bomb(tmp_path_factory.mktemp("media") / "bomb-10h.webm")


@pytest.fixture
async def cheap_stack(database_url, tmp_path):
    # MAX_RECORDING_SECONDS would refuse the 10 h input at PROBE; lifted to make it READY.
    stack, stop = await start_stack(
        database_url,
        tmp_path / "storage",
        media_overrides={
            "profile": CHEAP,
            "media_limits": dataclasses.replace(MediaLimits(), max_recording_seconds=40000),
        },
    )
    yield stack
    await stop()


async def ready_bomb(stack, bomb: pathlib.Path) -> str:
    video_id = await upload_unary(stack, bomb.read_bytes(), ALICE, chunk_size=MiB)
    video = await wait_final(stack, video_id, ALICE, timeout=300)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    return video_id


def slow_thumbnail(stack, video_id: str):
    """A frame near the end of 10 h with one keyframe at the start: ffmpeg decodes ~9000 1080p
    frames to reach it (seconds of work)."""
    stub = media_pb2_grpc.MediaServiceStub(stack.channel(stack.media_port))
    return stub.MakeThumbnail(
        media_pb2.MakeThumbnailRequest(video_id=video_id, at_seconds=35000, width=320), metadata=ALICE, timeout=120
    )


async def test_an_on_demand_ffmpeg_stops_when_its_caller_goes_away(cheap_stack, still_image_bomb):
    video_id = await ready_bomb(cheap_stack, still_image_bomb)
    call = slow_thumbnail(cheap_stack, video_id)
    await until(lambda: ffmpegs_reading(video_id), 30, "the thumbnail's ffmpeg reading the video")
    call.cancel()
    took = await seconds_until_none(video_id, STOP_WITHIN_SECONDS)
    assert took <= STOP_WITHIN_SECONDS, f"ffmpeg ran on for {took:.2f} s after the caller went away"
    assert cheap_stack.media.ondemand.slots.in_use == 0


async def test_an_on_demand_ffmpeg_stops_when_its_video_is_deleted(cheap_stack, still_image_bomb):
    video_id = await ready_bomb(cheap_stack, still_image_bomb)
    call = slow_thumbnail(cheap_stack, video_id)
    await until(lambda: ffmpegs_reading(video_id), 30, "the thumbnail's ffmpeg reading the video")
    ingest = ingest_pb2_grpc.IngestServiceStub(cheap_stack.channel(cheap_stack.ingest_port))
    await ingest.DeleteVideo(ingest_pb2.DeleteVideoRequest(video_id=video_id), metadata=ALICE, timeout=10)
    took = await seconds_until_none(video_id, STOP_WITHIN_SECONDS)
    assert took <= STOP_WITHIN_SECONDS, f"ffmpeg ran on for {took:.2f} s after DeleteVideo"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND, caught.value.details()
    assert "deleted while its thumbnail was being made" in caught.value.details()


@pytest.fixture
async def local_stack(database_url, tmp_path):
    stack, stop = await start_stack(database_url, tmp_path / "storage")
    yield stack
    await stop()


async def test_a_live_sessions_ffmpeg_stops_when_its_upload_is_deleted(local_stack, recording_3s):
    """Half an upload is in; the live session's ffmpeg waits for the rest, which never comes: the
    upload is deleted, and the ffmpeg stops within 2 s (not after MEDIA_LIVE_IDLE_SECONDS)."""
    from tests.helpers import chunk, split

    ingest = ingest_pb2_grpc.IngestServiceStub(local_stack.channel(local_stack.ingest_port))
    video_id = (
        await ingest.CreateUpload(ingest_pb2.CreateUploadRequest(content_type="video/webm"), metadata=ALICE, timeout=10)
    ).video_id
    parts = split(recording_3s.read_bytes(), 32 * 1024)
    for i, part in enumerate(parts[: len(parts) // 2]):
        await ingest.PutChunk(
            ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, part)), metadata=ALICE, timeout=30
        )
    await until(lambda: ffmpegs_reading(video_id), 30, "the live session's ffmpeg")
    await ingest.DeleteVideo(ingest_pb2.DeleteVideoRequest(video_id=video_id), metadata=ALICE, timeout=10)
    took = await seconds_until_none(video_id, STOP_WITHIN_SECONDS)
    assert took <= STOP_WITHIN_SECONDS, f"ffmpeg ran on for {took:.2f} s after DeleteVideo"
    await until(lambda: video_id not in local_stack.media.live.sessions, 10, "the session to end")
    assert local_stack.media.live.declined[video_id] == "the upload was deleted"
