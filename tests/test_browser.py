"""The extension's path, nothing mocked: headless Chromium records a canvas and a WebAudio tone
with MediaRecorder, uploads each chunk live with gRPC-Web through a real Envoy, follows the watch
stream, and the stored recording is exactly what the page recorded."""

from __future__ import annotations

import asyncio
import filecmp
import functools
import http.server
import json
import os
import subprocess
import threading

import pytest

from ingest_service.settings import UploadLimits
from recorder.v1 import common_pb2
from tests import media_tools
from tests.browser import WEB, require_browser
from tests.conftest import start_stack
from tests.helpers import MiB, asset, token, user, wait_final


@pytest.fixture(scope="session")
def web_build():
    require_browser()
    if not (WEB / "node_modules" / ".bin" / "esbuild").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True, timeout=600)
    subprocess.run(["npm", "run", "build"], cwd=WEB, check=True, timeout=120, capture_output=True)
    return WEB


def test_typescript_client_is_generated_in_sync_and_type_checks(web_build, tmp_path):
    subprocess.run(
        ["node", "scripts/gen.mjs"],
        cwd=WEB,
        check=True,
        timeout=120,
        capture_output=True,
        env={**os.environ, "OUT": str(tmp_path)},
    )
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.ts"))
    committed = sorted(p.relative_to(WEB / "src" / "gen") for p in (WEB / "src" / "gen").rglob("*.ts"))
    assert fresh == committed
    for rel in fresh:
        assert filecmp.cmp(tmp_path / rel, WEB / "src" / "gen" / rel, shallow=False), (
            f"web/src/gen/{rel} is out of date: run (cd web && npm run gen)"
        )
    result = subprocess.run(
        [str(WEB / "node_modules" / ".bin" / "tsc"), "-p", "."], cwd=WEB, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
async def small_chunk_stack(database_url, tmp_path):
    stack, stop = await start_stack(database_url, tmp_path / "storage", limits=UploadLimits(max_chunk_bytes=2 * MiB))
    yield stack
    await stop()


@pytest.fixture
def page_server():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(WEB))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def stack(small_chunk_stack):
    return small_chunk_stack  # the gateway fixture fronts this stack


async def test_chromium_records_and_uploads_live_through_envoy(web_build, stack, gateway, page_server, tmp_path):
    url = (
        f"http://127.0.0.1:{page_server}/index.html?gateway=http://127.0.0.1:{gateway}"
        f"&seconds=5&oversize={3 * MiB}#token={token('webuser')}"
    )
    process = await asyncio.create_subprocess_exec(
        "node",
        "scripts/record-in-chromium.mjs",
        url,
        "180000",
        cwd=WEB,
        env={**os.environ, "SCREENSHOT": str(tmp_path / "page.png")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert "error" not in result, result
    assert result["status"] == "READY", result
    assert result["chunks"] >= 4  # a 1000 ms timeslice over 5 s
    assert result["retries"] >= 1  # the page's uploader retried the chunk whose first try failed
    # Errors reach the browser as gRPC statuses (trailers-only included) and the page shows them.
    assert result["errors"] == {
        "badToken": "Unauthenticated",
        "unknownVideo": "NotFound",
        "oversizeChunk": "ResourceExhausted",
    }
    assert "NotFound" in result["statusText"] and "ResourceExhausted" in result["statusText"]
    # And with their ErrorInfo reasons, decoded by the client (web/src/client.ts errorReason). Envoy
    # (a bad token) and gRPC's own message limit (a chunk far over it) refuse before any handler
    # runs, so they send none.
    assert result["reasons"] == {"badToken": "", "unknownVideo": "NOT_FOUND", "oversizeChunk": ""}
    # The page saw READY (watchable); the compressed rendition follows.
    video = await wait_final(stack, result["videoId"], user("webuser"))
    assert video.status == common_pb2.VIDEO_STATUS_READY
    source = asset(stack, video, common_pb2.ASSET_KIND_SOURCE)
    assert source.stat().st_size == result["size"]
    assert media_tools.sha256_file(source) == result["sha256"]  # the bytes the page recorded
    assert video.media.video_codec == "vp8" and video.media.audio_codec == "opus"
    assert video.media.duration_seconds > 3.0
    clean, _, errors = media_tools.decode_fully(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))
    assert clean, errors
