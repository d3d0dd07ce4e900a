"""The storyboard is a rendition: queued with the video, made from the original once it is READY,
with state, progress and assets like the compressed one, retryable, and never un-READYing the
video when it fails."""

from __future__ import annotations

import re

import pytest

from recorder.v1 import common_pb2, ingest_pb2
from tests import media_tools
from tests.helpers import asset, rendition, upload_unary, user, wait_final

K = common_pb2
OWNER = "sb-owner"


def _cue_times(vtt: str) -> list[tuple[float, float]]:
    def seconds(h, m, s, ms):
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = re.findall(
        r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\nstoryboard\.jpg#xywh=\d+,\d+,\d+,\d+", vtt
    )
    return [(seconds(*c[0:4]), seconds(*c[4:8])) for c in cues]


@pytest.fixture(scope="module")
def recording_7s(tmp_path_factory):
    return media_tools.make_webm(tmp_path_factory.mktemp("media") / "screen-7s.webm", 7, size="640x360")


async def test_storyboard_rendition_is_ready_with_vtt_covering_the_video_and_a_sprite(stack, recording_7s, tmp_path):
    video_id = await upload_unary(stack, recording_7s.read_bytes(), user(OWNER))
    video = await wait_final(stack, video_id, user(OWNER))
    assert video.status == K.VIDEO_STATUS_READY, video.error
    board = rendition(video, K.RENDITION_KIND_STORYBOARD)
    assert board.state == K.RENDITION_STATE_READY and board.progress == 1.0, board.error
    assert rendition(video, K.RENDITION_KIND_COMPRESSED).state == K.RENDITION_STATE_READY
    vtt = asset(stack, video, K.ASSET_KIND_STORYBOARD_VTT).read_text()
    times = _cue_times(vtt)
    assert vtt.startswith("WEBVTT") and len(times) == 4  # 7 s, a frame every 2 s
    assert times[0][0] == 0 and all(a[1] == b[0] for a, b in zip(times, times[1:]))
    assert abs(times[-1][1] - video.media.duration_seconds) < 0.05
    sprite = tmp_path / "sprite.jpg"
    sprite.write_bytes(asset(stack, video, K.ASSET_KIND_STORYBOARD).read_bytes())
    probed = media_tools.probe(sprite)
    assert probed.video.codec == "mjpeg" and (probed.video.width, probed.video.height) == (640, 90)


async def test_a_failing_storyboard_leaves_the_video_ready_and_is_retried(stack, recording_7s):
    storyboards = stack.media.storyboards
    ffmpeg = storyboards.encode.ffmpeg
    storyboards.encode.ffmpeg = "/bin/false"  # this ffmpeg fails every storyboard
    try:
        video_id = await upload_unary(stack, recording_7s.read_bytes(), user(OWNER))
        video = await wait_final(stack, video_id, user(OWNER))
    finally:
        storyboards.encode.ffmpeg = ffmpeg
    assert video.status == K.VIDEO_STATUS_READY, video.error
    board = rendition(video, K.RENDITION_KIND_STORYBOARD)
    assert board.state == K.RENDITION_STATE_FAILED
    assert board.error.startswith("could not make the storyboard"), board.error
    assert rendition(video, K.RENDITION_KIND_COMPRESSED).state == K.RENDITION_STATE_READY
    assert not {K.ASSET_KIND_STORYBOARD, K.ASSET_KIND_STORYBOARD_VTT} & {a.kind for a in video.assets}
    await stack.ingest.RetryProcessing(
        ingest_pb2.RetryVideoProcessingRequest(video_id=video_id, rendition=K.RENDITION_KIND_STORYBOARD),
        metadata=user(OWNER),
        timeout=10,
    )
    video = await wait_final(stack, video_id, user(OWNER))
    assert video.status == K.VIDEO_STATUS_READY
    assert rendition(video, K.RENDITION_KIND_STORYBOARD).state == K.RENDITION_STATE_READY
    assert asset(stack, video, K.ASSET_KIND_STORYBOARD_VTT).read_text().startswith("WEBVTT")
