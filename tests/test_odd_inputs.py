"""Odd recordings end READY with sensible outputs or FAILED with the step and a readable reason."""
from __future__ import annotations

import subprocess

import pytest

from recorder.v1 import common_pb2
from tests import media_tools
from tests.conftest import start_stack
from tests.helpers import asset, upload_unary, user, wait_final

ALICE = user("alice")


async def test_audio_only_recording(stack, tmp_path):
    clip = media_tools.make_webm(tmp_path / "voice.webm", 3.0, video=False)
    video = await wait_final(stack, await upload_unary(stack, clip.read_bytes(), ALICE), ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert video.media.audio_codec == "opus" and video.media.video_codec == ""
    assert video.media.duration_seconds == pytest.approx(3.0, abs=0.1)
    mp4 = asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED)
    probed = media_tools.probe(mp4)
    assert probed.audio.codec == "aac" and probed.video is None
    assert not [a for a in video.assets if a.kind == common_pb2.ASSET_KIND_THUMBNAIL]


async def test_one_frame_recording(stack, tmp_path):
    clip = tmp_path / "one.webm"
    subprocess.run([media_tools.FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
                    "-frames:v", "1", "-c:v", "libvpx", "-live", "1", "-f", "webm", str(clip)], check=True)
    video = await wait_final(stack, await upload_unary(stack, clip.read_bytes(), ALICE), ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert (video.media.width, video.media.height) == (320, 240)
    assert not media_tools.is_uniform(asset(stack, video, common_pb2.ASSET_KIND_THUMBNAIL))
    clean, _, errors = media_tools.decode_fully(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))
    assert clean, errors


async def test_recording_cut_off_mid_cluster(stack, recording_3s):
    """The browser died mid-recording: the last chunk ends inside a cluster. What was recorded
    before the cut is kept and processed."""
    data = recording_3s.read_bytes()
    cut = data[: int(len(data) * 0.6)]
    video = await wait_final(stack, await upload_unary(stack, cut, ALICE, chunk_size=64 * 1024), ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert 0.5 < video.media.duration_seconds < 3.0
    clean, seconds, errors = media_tools.decode_fully(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))
    assert clean, errors
    assert seconds == pytest.approx(video.media.duration_seconds, abs=0.15)


async def test_a_hung_ffmpeg_is_killed_at_its_timeout(database_url, tmp_path, recording_3s):
    hung = tmp_path / "hung-ffmpeg"
    hung.write_text("#!/bin/sh\nexec sleep 600\n")
    hung.chmod(0o755)
    stack, stop = await start_stack(database_url, tmp_path / "s",
                                    media_overrides={"ffmpeg_binary": str(hung), "step_timeout_seconds": 1.0})
    try:
        video = await wait_final(stack, await upload_unary(stack, recording_3s.read_bytes(), ALICE), ALICE,
                                 timeout=60)
        assert video.status == common_pb2.VIDEO_STATUS_FAILED
        assert "did not finish within 1 s" in video.error
        assert video.error_step == common_pb2.PROCESSING_STEP_PROBE
        leftover = subprocess.run(["pgrep", "-f", str(hung)], capture_output=True, text=True)
        assert leftover.stdout.strip() == ""
    finally:
        await stop()
