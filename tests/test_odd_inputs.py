"""Odd recordings end READY with sensible outputs or FAILED with the step and a readable reason."""

from __future__ import annotations

import subprocess

import pytest

from recorder.v1 import common_pb2
from tests import media_tools
from tests.conftest import start_stack
from tests.helpers import asset, upload_and_wait, upload_expecting_ready, upload_unary, user, wait_final

ALICE = user("alice")
pytestmark = [pytest.mark.both_backends, pytest.mark.one_database]


async def test_audio_only_recording(stack, tmp_path):
    clip = media_tools.make_webm(tmp_path / "voice.webm", 3.0, video=False)
    video = await upload_expecting_ready(stack, clip.read_bytes(), ALICE)
    assert video.media.audio_codec == "opus" and video.media.video_codec == ""
    assert video.media.duration_seconds == pytest.approx(3.0, abs=0.1)
    mp4 = asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED)
    probed = media_tools.probe(mp4)
    assert probed.audio.codec == "aac" and probed.video is None
    assert not [a for a in video.assets if a.kind == common_pb2.ASSET_KIND_THUMBNAIL]


async def test_one_frame_recording(stack, tmp_path):
    clip = tmp_path / "one.webm"
    media_tools.ffmpeg(
        *media_tools.lavfi("testsrc2=size=320x240:rate=30"),
        "-frames:v",
        "1",
        "-c:v",
        "libvpx",
        *media_tools.live_webm(clip),
    )
    video = await upload_expecting_ready(stack, clip.read_bytes(), ALICE)
    assert (video.media.width, video.media.height) == (320, 240)
    assert not media_tools.is_uniform(asset(stack, video, common_pb2.ASSET_KIND_THUMBNAIL))
    clean, _, errors = media_tools.decode_fully(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))
    assert clean, errors


async def test_recording_cut_off_mid_cluster(stack, recording_3s):
    """The browser died mid-recording: the last chunk ends inside a cluster. What was recorded
    before the cut is kept and processed."""
    data = recording_3s.read_bytes()
    cut = data[: int(len(data) * 0.6)]
    video = await upload_expecting_ready(stack, cut, ALICE, chunk_size=64 * 1024)
    assert 0.5 < video.media.duration_seconds < 3.0
    clean, seconds, errors = media_tools.decode_fully(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))
    assert clean, errors
    assert seconds == pytest.approx(video.media.duration_seconds, abs=0.15)


async def test_a_hung_ffmpeg_is_killed_at_its_timeout(database_url, tmp_path, storage_backend, recording_3s):
    hung = tmp_path / "hung-ffmpeg"
    hung.write_text("#!/bin/sh\nexec sleep 600\n")
    hung.chmod(0o755)
    stack, stop = await start_stack(
        database_url,
        tmp_path / "s",
        storage=storage_backend,
        media_overrides={"ffmpeg_binary": str(hung), "step_timeout_seconds": 1.0},
    )
    try:
        video = await upload_and_wait(stack, recording_3s.read_bytes(), ALICE, timeout=60)
        assert video.status == common_pb2.VIDEO_STATUS_FAILED
        assert "did not finish within 1 s" in video.error
        assert video.error_step == common_pb2.PROCESSING_STEP_PROBE
        leftover = subprocess.run(["pgrep", "-f", str(hung)], capture_output=True, text=True)
        assert leftover.stdout.strip() == ""
    finally:
        await stop()


async def test_video_only_recording(stack, tmp_path):
    clip = media_tools.make_webm(tmp_path / "silent.webm", 2.0, size="320x240", audio=False)
    video = await upload_expecting_ready(stack, clip.read_bytes(), ALICE)
    assert video.media.video_codec == "vp8" and video.media.audio_codec == ""
    probed = media_tools.probe(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))
    assert probed.video.codec == "h264" and probed.audio is None
    assert not media_tools.is_uniform(asset(stack, video, common_pb2.ASSET_KIND_THUMBNAIL))


async def test_zero_length_upload_fails_at_probe_with_a_reason(stack):
    video = await upload_and_wait(stack, b"", ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_FAILED
    assert video.error_step == common_pb2.PROCESSING_STEP_PROBE
    assert "empty" in video.error


async def test_recording_truncated_inside_its_header(stack, recording_3s):
    """Only the first bytes arrived (the tab crashed at once): no frame to keep."""
    video = await upload_and_wait(stack, recording_3s.read_bytes()[:200], ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_FAILED
    assert video.error_step != common_pb2.PROCESSING_STEP_UNSPECIFIED
    assert video.error and "Traceback" not in video.error


async def test_resolution_change_mid_recording(stack, tmp_path):
    """The user resized the shared window: MediaRecorder goes on with bigger frames in the same
    track. Every frame ends up in one fixed-size output, letterboxed."""
    parts = [
        media_tools.make_webm(tmp_path / f"part{i}.webm", 2.0, size=size, audio=False)
        for i, size in enumerate(["640x360", "960x720"])
    ]
    listing = tmp_path / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    clip = tmp_path / "resized.webm"
    media_tools.ffmpeg(
        "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", *media_tools.live_webm(clip), timeout=60
    )
    video = await upload_expecting_ready(stack, clip.read_bytes(), ALICE)
    compressed = asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED)
    probed = media_tools.probe(compressed)
    assert (probed.video.width, probed.video.height) == (640, 360)
    clean, seconds, errors = media_tools.decode_fully(compressed)
    assert clean, errors
    assert seconds == pytest.approx(4.0, abs=0.2)
    assert media_tools.count_packets(compressed) == media_tools.count_packets(clip)  # no frame lost


async def test_variable_frame_rate_keeps_its_timing(stack, tmp_path):
    """Screen capture sends frames only when the screen changes: irregular gaps, kept as they are
    (no duplicated frames to fill them), and the same duration."""
    clip = tmp_path / "vfr.webm"
    media_tools.ffmpeg(
        *media_tools.lavfi("testsrc2=size=320x240:rate=30"),
        "-t",
        "4",
        "-vf",
        "select='lt(n,20)+gt(n,80)*not(mod(n,7))'",
        "-fps_mode",
        "vfr",
        "-c:v",
        "libvpx",
        *media_tools.live_webm(clip),
        timeout=60,
    )
    video = await upload_expecting_ready(stack, clip.read_bytes(), ALICE)
    compressed = asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED)
    assert media_tools.count_packets(compressed) == media_tools.count_packets(clip)
    assert media_tools.decode_fully(compressed)[1] == pytest.approx(video.media.duration_seconds, abs=0.2)


@pytest.mark.parametrize("audio_codec", ["aac", "opus"])
async def test_fragmented_mp4_from_chrome(stack, tmp_path, audio_codec):
    clip = media_tools.make_fragmented_mp4(tmp_path / "chrome.mp4", 3.0, audio_codec)
    video_id = await upload_unary(stack, clip.read_bytes(), ALICE, content_type="video/mp4;codecs=avc1,opus")
    video = await wait_final(stack, video_id, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert (video.media.video_codec, video.media.audio_codec) == ("h264", audio_codec)
    assert video.media.duration_seconds == pytest.approx(3.0, abs=0.1)
    original = asset(stack, video, common_pb2.ASSET_KIND_ORIGINAL)
    assert original.suffix == ".mp4" and media_tools.top_level_boxes(original).index(
        "moov"
    ) < media_tools.top_level_boxes(original).index("mdat")  # seekable, index first
    assert media_tools.decode_fully(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))[0]
    assert not media_tools.is_uniform(asset(stack, video, common_pb2.ASSET_KIND_THUMBNAIL))


async def test_declared_type_must_match_the_bytes(stack, tmp_path):
    clip = media_tools.make_fragmented_mp4(tmp_path / "chrome.mp4", 1.0)
    video = await upload_and_wait(stack, clip.read_bytes(), ALICE, content_type="video/webm")
    assert video.status == common_pb2.VIDEO_STATUS_FAILED
    assert video.error_step == common_pb2.PROCESSING_STEP_PROBE
    assert "declared video/webm" in video.error and "mp4" in video.error


async def test_ffmpeg_memory_is_bounded(database_url, tmp_path, storage_backend, recording_3s):
    stack, stop = await start_stack(
        database_url, tmp_path / "s", storage=storage_backend, media_overrides={"ffmpeg_max_memory_mb": 100}
    )
    try:
        video = await upload_and_wait(stack, recording_3s.read_bytes(), ALICE)
        # Copying fits; decoding the thumbnail's candidate frames (the first decode) does not.
        assert video.status == common_pb2.VIDEO_STATUS_FAILED
        assert video.error_step == common_pb2.PROCESSING_STEP_THUMBNAIL
        assert "100 MiB memory limit" in video.error, video.error
    finally:
        await stop()
