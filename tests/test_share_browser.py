"""The share page in headless Debian Chromium, through the real services and Envoy: the video of a
READY recording plays, seeks to the middle (a frame decodes there), and its duration is the
source's within 0.1 s."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from recorder.v1 import catalog_pb2
from tests import media_tools
from tests.browser import WEB
from tests.videos import ready_video
from tests.helpers import user


@pytest.fixture(scope="session")
def recording_6s(tmp_path_factory):
    return media_tools.make_webm(tmp_path_factory.mktemp("media") / "screen-6s.webm", 6, size="640x360")


async def watch(url: str, env: dict[str, str] | None = None, timeout_ms: int = 120_000):
    process = await asyncio.create_subprocess_exec(
        "node",
        "scripts/watch-in-chromium.mjs",
        url,
        str(timeout_ms),
        cwd=WEB,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout_ms / 1000 + 120)
    assert process.returncode == 0, err.decode()[-3000:]
    return json.loads(out.decode().strip().splitlines()[-1])


async def test_chromium_plays_and_seeks_a_share_page(playwright_ready, stack, gateway, recording_6s):
    video = await ready_video(stack, recording_6s, "share-erin", title="Demo for the team")
    link = (
        await stack.catalog.CreateShareLink(
            catalog_pb2.CreateShareLinkRequest(video_id=video.video_id, expires_in_seconds=600),
            metadata=user("share-erin"),
            timeout=10,
        )
    ).link
    result = await watch(f"http://127.0.0.1:{gateway}{link.path}")
    print(json.dumps({k: v for k, v in result.items() if k != "logs"}))
    assert "error" not in result, result
    assert result["status"] == 200 and result["title"] == "Demo for the team"
    assert "/thumbnail.jpg" in result["poster"]
    assert result["played"] > 0.5  # currentTime advanced while playing
    source_duration = media_tools.decode_fully(recording_6s)[1]  # the stream's own last timestamp
    assert abs(result["duration"] - source_duration) <= 0.1, (result["duration"], source_duration)
    seek = result["seek"]
    assert abs(seek["currentTime"] - seek["target"]) < 0.05
    assert abs(seek["frameTime"] - seek["target"]) < 0.5  # the frame shown is the one at the middle
    assert seek["meanLevel"] > 10 and seek["distinctReds"] > 3, seek  # a real picture, not blank
    assert result["decodedFrames"] > 0
