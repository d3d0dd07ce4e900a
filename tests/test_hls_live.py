"""HLS from the compressed rendition's encode, through the real services: the live encode writes
the playlist while the recording arrives, so a share page opened during the upload plays it
(headless Chromium through Envoy, hls.js), and the finished playlist is VOD with ENDLIST; its
segments decode and together cover the recording, on both storage backends."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import statistics
import time

import pytest

from media_service import commands
from recorder.v1 import common_pb2
from tests import media_tools
from tests.helpers import chunk, create_upload, put_chunk, share_link, split, user, wait_final, wait_until
from tests.browser import WEB
from tests.videos import ready_video

pytestmark = pytest.mark.one_database  # ffmpeg and files: the catalog's database plays no part

RECORDING_SECONDS = 20
OPEN_AFTER_SECONDS = 5


@pytest.fixture(scope="module")
def recording_20s(tmp_path_factory) -> pathlib.Path:
    return media_tools.make_webm(
        tmp_path_factory.mktemp("media") / "screen-20s.webm", RECORDING_SECONDS, size="640x360"
    )


@pytest.fixture(scope="module")
def recording_7s(tmp_path_factory) -> pathlib.Path:
    return media_tools.make_webm(tmp_path_factory.mktemp("media") / "screen-7s.webm", 7, size="640x360")


def hls_key(video: common_pb2.Video) -> str:
    keys = [a.path for a in video.assets if a.kind == common_pb2.ASSET_KIND_HLS]
    assert keys, "no HLS asset"
    return keys[0]


def stored_hls(stack, key: str, folder: pathlib.Path) -> commands.Playlist:
    """The stored playlist, with the init and media segments it names copied into folder."""
    folder.mkdir(parents=True, exist_ok=True)
    text = stack.file(key).read_text()
    (folder / commands.HLS_PLAYLIST).write_text(text)
    playlist = commands.parse_playlist(text)
    for name in [playlist.init, *(n for _, n in playlist.segments)]:
        stored = stack.file(str(pathlib.PurePosixPath(key).with_name(name)))
        assert stored.is_file(), f"{name} is named by the playlist but not stored"
        (folder / name).write_bytes(stored.read_bytes())
    return playlist


def check_segments(folder: pathlib.Path, playlist: commands.Playlist, source_seconds: float) -> None:
    media_tools.check_hls_segments(folder, playlist, source_seconds, tolerance=0.5)
    assert abs(playlist.duration - source_seconds) <= 0.5, (playlist.duration, source_seconds)


@pytest.mark.both_backends
async def test_the_playlist_segments_decode_and_cover_the_duration(stack, recording_7s, tmp_path):
    video = await ready_video(stack, recording_7s, "hls-dana")
    video = await wait_final(stack, video.video_id, user("hls-dana"))  # and its renditions
    assert all(r.state == common_pb2.RENDITION_STATE_READY for r in video.renditions), video.renditions
    playlist = stored_hls(stack, hls_key(video), tmp_path / "hls")
    assert playlist.ended and playlist.playlist_type == "VOD"
    source_seconds = media_tools.decode_fully(recording_7s)[1]
    check_segments(tmp_path / "hls", playlist, source_seconds)


async def watch_live(url: str, timeout_ms: int) -> dict:
    process = await asyncio.create_subprocess_exec(
        "node",
        "scripts/watch-live-in-chromium.mjs",
        url,
        str(timeout_ms),
        cwd=WEB,
        env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout_ms / 1000 + 120)
    assert process.returncode == 0, err.decode()[-3000:]
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_a_share_page_opened_while_recording_plays_live_and_ends_at_the_full_duration(
    playwright_ready,
    stack,
    gateway,
    recording_20s,
    tmp_path,
):
    owner = user("hls-erin")
    data = recording_20s.read_bytes()
    video_id = await create_upload(stack, owner, title="Live demo", content_type="video/webm;codecs=vp8,opus")
    link = await share_link(stack, video_id, owner, expires_in_seconds=600)
    # At 1x pace: one second of the recording's bytes each second, as a recorder sends them.
    parts = split(data, max(len(data) // RECORDING_SECONDS, 1))
    seconds_per_part = RECORDING_SECONDS / len(parts)
    started = time.time()
    viewer = None
    for i, part in enumerate(parts):
        await asyncio.sleep(max(0.0, started + i * seconds_per_part - time.time()))
        await put_chunk(stack, video_id, chunk(i, part, i == len(parts) - 1), owner)
        if i == 0:
            await wait_until(lambda: stack.media.live.encoders.running.get(video_id), "a live encode")
        if viewer is None and time.time() - started >= OPEN_AFTER_SECONDS:
            viewer = asyncio.ensure_future(watch_live(f"http://127.0.0.1:{gateway}{link.path}", 150_000))
    uploaded = time.time()
    video = await wait_final(stack, video_id, owner)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    result = await viewer
    samples = result.get("samples", [])
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}))
    assert "error" not in result and result["status"] == 200, result
    assert result["hlsSource"], "the share page of a recording in progress offers the live playlist"
    assert stack.media.live.encoders.outcomes == {"ready": 1}, "the HLS came from the live encode"

    # How far behind the recorder the viewer is while the upload goes on: the recorder is at
    # (now - start) seconds of media; the viewer's newest frame is the end of what it buffered.
    during = [s for s in samples if s["wallMs"] / 1000 < uploaded and s["currentTime"] > 0]
    newest_lag = [(s["wallMs"] / 1000 - started) - s["bufferedEnd"] for s in during]
    playhead_lag = [(s["wallMs"] / 1000 - started) - s["currentTime"] for s in during]
    if during:
        print(
            f"viewer behind the recorder while recording ({len(during)} samples): newest frame "
            f"median {statistics.median(newest_lag):.1f} s, max {max(newest_lag):.1f} s; playhead "
            f"median {statistics.median(playhead_lag):.1f} s, max {max(playhead_lag):.1f} s (target <= 6 s)"
        )
    assert any(s["currentTime"] > 0.5 for s in during), (
        "the share page played before the upload finished",
        samples[::8],
    )

    source_seconds = media_tools.decode_fully(recording_20s)[1]
    assert result["ended"], samples[-3:]
    assert abs(samples[-1]["currentTime"] - source_seconds) <= 0.5, (samples[-1], source_seconds)
    playlist = stored_hls(stack, hls_key(video), tmp_path / "hls")
    assert playlist.ended and playlist.playlist_type == "VOD"
    check_segments(tmp_path / "hls", playlist, source_seconds)
