from __future__ import annotations

import asyncio
import functools
import pathlib
import tempfile
import time

import google_crc32c

from devauth.keys import ensure_keys
from recorder.v1 import catalog_pb2, common_pb2, ingest_pb2

MiB = 1024 * 1024
FINAL = {common_pb2.VIDEO_STATUS_READY, common_pb2.VIDEO_STATUS_FAILED}


# One development identity provider for the whole test session; every stack trusts its keys.
TEST_KEYS = ensure_keys(tempfile.mkdtemp(prefix="recorder-test-auth-"))


@functools.lru_cache(maxsize=None)
def token(name: str) -> str:
    return TEST_KEYS.mint(name, ttl_seconds=6 * 3600)


def bearer(token_text: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token_text}"),)


def user(name: str) -> tuple[tuple[str, str], ...]:
    """Call metadata for end user `name`: a valid bearer token."""
    return bearer(token(name))


def split(data: bytes, size: int = MiB) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def chunk(index: int, data: bytes, is_last: bool = False) -> ingest_pb2.Chunk:
    return ingest_pb2.Chunk(index=index, data=data, crc32c=google_crc32c.value(data), is_last=is_last)


async def wait_final(stack, video_id: str, md, timeout: float = 180.0) -> common_pb2.Video:
    stub = stack.catalog
    deadline = time.monotonic() + timeout
    while True:
        video = (await stub.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md,
                                     timeout=10)).video
        if video.status in FINAL:
            return video
        assert time.monotonic() < deadline, f"video still {video.status} after {timeout} s"
        await asyncio.sleep(0.2)


async def wait_chunks_removed(stack, owner: str, video_id: str, timeout: float = 30.0) -> None:
    """Chunks are deleted right after READY is recorded, so a test polls for their removal."""
    prefix = f"users/{owner}/videos/{video_id}/chunks/"
    deadline = time.monotonic() + timeout
    while left := stack.keys(prefix):
        assert time.monotonic() < deadline, f"{len(left)} chunks still stored {timeout} s after READY"
        await asyncio.sleep(0.1)


def asset(stack, video: common_pb2.Video, kind: int) -> pathlib.Path:
    matches = [a for a in video.assets if a.kind == kind]
    assert matches, f"no asset of kind {common_pb2.AssetKind.Name(kind)}"
    path = stack.file(matches[0].path)
    assert path.is_file() and path.stat().st_size == matches[0].size_bytes
    return path


async def upload_unary(stack, data: bytes, md, chunk_size: int = MiB, title: str = "t",
                       content_type: str = "video/webm") -> str:
    stub = stack.ingest
    created = await stub.CreateUpload(ingest_pb2.CreateUploadRequest(
        title=title, filename="rec.webm", content_type=content_type), metadata=md, timeout=10)
    parts = split(data, chunk_size)
    for i, part in enumerate(parts):
        await stub.PutChunk(ingest_pb2.PutChunkRequest(
            video_id=created.video_id, chunk=chunk(i, part, i == len(parts) - 1)), metadata=md, timeout=30)
    return created.video_id
