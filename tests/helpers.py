from __future__ import annotations

import asyncio
import pathlib
import tempfile
import threading
import time
from collections.abc import Sequence

import google_crc32c
from sqlalchemy import event
import grpc
import pytest

from devauth.keys import ensure_keys
from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, ingest_pb2
from recorder_common.errors import Reason, reason_of
from recorder_common.vocab import RenditionKind

MiB = 1024 * 1024
FINAL = {common_pb2.VIDEO_STATUS_READY, common_pb2.VIDEO_STATUS_FAILED}


# One development identity provider for the whole test session; every stack trusts its keys.
TEST_KEYS = ensure_keys(tempfile.mkdtemp(prefix="recorder-test-auth-"))


# A test's token is minted when it is used, never at import or once per session: a suite that
# reaches a test late (a busy CI machine) must not find its tokens expired. Each token handed out
# has at least TOKEN_MIN_LEFT_SECONDS to run, far longer than any one call or CLI run of a test.
TOKEN_SECONDS = 900
TOKEN_MIN_LEFT_SECONDS = 600
_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()  # the LoopThread stack and the test thread both mint


def token(name: str) -> str:
    """A valid bearer token for end user `name`, with at least TOKEN_MIN_LEFT_SECONDS left."""
    now = time.time()
    with _tokens_lock:
        cached = _tokens.get(name)
        if cached is None or cached[1] - now < TOKEN_MIN_LEFT_SECONDS:
            cached = (TEST_KEYS.mint(name, ttl_seconds=TOKEN_SECONDS, now=now), now + TOKEN_SECONDS)
            _tokens[name] = cached
        return cached[0]


def bearer(token_text: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token_text}"),)


class UserMetadata(Sequence):
    """Call metadata for an end user, read when a call is made: gRPC reads the pairs as it starts
    the call, so the bearer token in them is fresh then, however long ago this object was made
    (test modules make theirs at import)."""

    def __init__(self, name: str, *extra: tuple[str, str]) -> None:
        self.name, self.extra = name, extra

    def _pairs(self) -> tuple[tuple[str, str], ...]:
        return bearer(token(self.name)) + self.extra

    def __getitem__(self, index):
        return self._pairs()[index]

    def __iter__(self):
        return iter(self._pairs())

    def __len__(self) -> int:
        return 1 + len(self.extra)

    def __add__(self, other) -> "UserMetadata":
        return UserMetadata(self.name, *self.extra, *other)

    def __repr__(self) -> str:
        return f"user({self.name!r}{', ' if self.extra else ''}{', '.join(map(repr, self.extra))})"


def user(name: str) -> UserMetadata:
    """Call metadata for end user `name`: a valid bearer token, minted when a call reads it."""
    return UserMetadata(name)


def split(data: bytes, size: int = MiB) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def chunk(index: int, data: bytes, is_last: bool = False) -> ingest_pb2.Chunk:
    return ingest_pb2.Chunk(index=index, data=data, crc32c=google_crc32c.value(data), is_last=is_last)


def renditions_done(video: common_pb2.Video) -> bool:
    return all(
        r.state in (common_pb2.RENDITION_STATE_READY, common_pb2.RENDITION_STATE_FAILED) for r in video.renditions
    )


def rendition(video: common_pb2.Video, kind: int = common_pb2.RENDITION_KIND_COMPRESSED) -> common_pb2.Rendition:
    matches = [r for r in video.renditions if r.kind == kind]
    assert len(matches) == 1, f"{len(matches)} renditions of kind {common_pb2.RenditionKind.Name(kind)}"
    return matches[0]


async def wait_final(stack, video_id: str, md, timeout: float = 600.0, renditions: bool = True) -> common_pb2.Video:
    """The video once its status is final; with renditions (the default), a READY video also once
    every rendition is READY or FAILED (READY alone means watchable: the compressed MP4 follows)."""
    stub = stack.catalog
    deadline = time.monotonic() + timeout
    while True:
        video = (await stub.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md, timeout=10)).video
        if video.status in FINAL and (
            not renditions or video.status != common_pb2.VIDEO_STATUS_READY or renditions_done(video)
        ):
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


RENDITION_EVENT_PREFIXES = tuple(f"{kind.value.lower()} rendition " for kind in RenditionKind)


def status_events(video: common_pb2.Video) -> list[common_pb2.StatusEvent]:
    """The video's history without its renditions' events (catalog._move_rendition writes those
    with the video's status of the moment, which does not change): one row per status change."""
    return [e for e in video.history if not e.message.startswith(RENDITION_EVENT_PREFIXES)]


def asset(stack, video: common_pb2.Video, kind: int) -> pathlib.Path:
    matches = [a for a in video.assets if a.kind == kind]
    assert matches, f"no asset of kind {common_pb2.AssetKind.Name(kind)}; renditions: " + "; ".join(
        f"{common_pb2.RenditionKind.Name(r.kind)} {common_pb2.RenditionState.Name(r.state)} {r.error!r}"
        for r in video.renditions
    )
    path = stack.file(matches[0].path)
    assert path.is_file() and path.stat().st_size == matches[0].size_bytes
    return path


async def upload_unary(
    stack, data: bytes, md, chunk_size: int = MiB, title: str = "t", content_type: str = "video/webm"
) -> str:
    stub = stack.ingest
    created = await stub.CreateUpload(
        ingest_pb2.CreateUploadRequest(title=title, filename="rec.webm", content_type=content_type),
        metadata=md,
        timeout=10,
    )
    parts = split(data, chunk_size)
    for i, part in enumerate(parts):
        await stub.PutChunk(
            ingest_pb2.PutChunkRequest(video_id=created.video_id, chunk=chunk(i, part, i == len(parts) - 1)),
            metadata=md,
            timeout=30,
        )
    return created.video_id


async def upload_and_wait(
    stack, data: bytes, md, chunk_size: int = MiB, content_type: str = "video/webm", timeout: float = 600.0
) -> common_pb2.Video:
    """Uploads data as one recording and waits until it is processed (wait_final)."""
    video_id = await upload_unary(stack, data, md, chunk_size=chunk_size, content_type=content_type)
    return await wait_final(stack, video_id, md, timeout=timeout)


async def upload_expecting_ready(
    stack, data: bytes, md, chunk_size: int = MiB, content_type: str = "video/webm"
) -> common_pb2.Video:
    """upload_and_wait for a recording that must end READY: anything else fails the test with
    the recording's error."""
    video = await upload_and_wait(stack, data, md, chunk_size=chunk_size, content_type=content_type)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    return video


async def expect(code: grpc.StatusCode, call, reason: Reason | None = None) -> str:
    """Awaits a call that must fail with `code`, a message a person can act on and an ErrorInfo
    reason (`reason` when given: tests branch on it, never on the English); returns the message."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    assert caught.value.details(), f"{code.name} without a message"
    carried = reason_of(caught.value)
    assert carried is not None, f"{code.name} without an ErrorInfo reason: {caught.value.details()}"
    if reason is not None:
        assert carried == reason, caught.value.details()
    return caught.value.details()


async def create_upload(stack, md, title: str = "t", content_type: str = "") -> str:
    request = ingest_pb2.CreateUploadRequest(title=title, content_type=content_type)
    return (await stack.ingest.CreateUpload(request, metadata=md, timeout=10)).video_id


def create_upload_blocking(ingest, md, title: str = "", filename: str = "", content_type: str = "video/webm") -> str:
    """create_upload on a synchronous IngestService stub (of a process stack)."""
    request = ingest_pb2.CreateUploadRequest(title=title, filename=filename, content_type=content_type)
    return ingest.CreateUpload(request, metadata=md, timeout=10).video_id


async def share_link(stack, video_id: str, md, expires_in_seconds: int = 0) -> catalog_pb2.ShareLink:
    """A new share link to the video (0: one that never expires)."""
    request = catalog_pb2.CreateShareLinkRequest(video_id=video_id, expires_in_seconds=expires_in_seconds)
    return (await stack.catalog.CreateShareLink(request, metadata=md, timeout=10)).link


async def put_chunk(stack, video_id: str, c: ingest_pb2.Chunk, md) -> ingest_pb2.ChunkAck:
    return (
        await stack.ingest.PutChunk(ingest_pb2.PutChunkRequest(video_id=video_id, chunk=c), metadata=md, timeout=30)
    ).ack


async def wait_until(predicate, what: str, timeout: float = 60.0):
    """Polls a predicate on the event loop until it returns something true (returned), or fails:
    for conditions a test must not guess the timing of."""
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)
    return value


def wait_for(predicate, timeout: float, what: str):
    """Polls a synchronous predicate until it returns something true (returned), or fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)


def get_video(stack, video_id: str, md) -> common_pb2.Video:
    """GetVideo over a short-lived synchronous channel, for process stacks (tests.process_stack)."""
    with grpc.insecure_channel(stack.target("catalog")) as channel:
        return (
            catalog_pb2_grpc.CatalogServiceStub(channel)
            .GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md, timeout=10)
            .video
        )


class CommitCounter:
    """Counts the transactions a catalog commits (SQLAlchemy's commit event)."""

    def __init__(self, catalog: "catalog_service.catalog.Catalog") -> None:  # noqa: F821
        self.engine = catalog.sessions.kw["bind"].sync_engine
        self.commits = 0
        event.listen(self.engine, "commit", self._count)

    def _count(self, _conn) -> None:
        self.commits += 1

    def close(self) -> None:
        event.remove(self.engine, "commit", self._count)
