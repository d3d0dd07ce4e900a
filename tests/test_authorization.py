"""Authorization: each user reaches only their own videos; another user's id answers NOT_FOUND and
changes nothing. Client-supplied names are metadata only and never touch the file system."""

from __future__ import annotations

import asyncio
import hashlib
import pathlib
import uuid

import grpc
import pytest

from recorder.v1 import catalog_pb2, common_pb2, ingest_pb2
from tests.helpers import chunk, upload_unary, user, wait_final

ALICE, BOB = user("alice"), user("bob")


def tree(root) -> dict[str, str]:
    """Every file under root with a hash of its bytes."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


async def state(stack, video_id, md=ALICE):
    return (
        await stack.ingest.GetUploadState(
            ingest_pb2.GetIngestUploadStateRequest(video_id=video_id), metadata=md, timeout=10
        )
    ).state


async def video(stack, video_id, md=ALICE):
    return (await stack.catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md, timeout=10)).video


def intruder_calls(stack, video_id: str):
    async def watch():
        async for _ in stack.catalog.WatchVideo(
            catalog_pb2.WatchVideoRequest(video_id=video_id), metadata=BOB, timeout=10
        ):
            pass

    async def stream_into():
        async def messages():
            yield ingest_pb2.UploadRequest(header=ingest_pb2.UploadHeader(resume_video_id=video_id))
            yield ingest_pb2.UploadRequest(chunk=chunk(2, b"bob's bytes", is_last=True))

        await stack.ingest.Upload(messages(), metadata=BOB, timeout=10)

    return {
        "GetVideo": lambda: video(stack, video_id, BOB),
        "WatchVideo": watch,
        "GetUploadState": lambda: state(stack, video_id, BOB),
        "PutChunk": lambda: stack.ingest.PutChunk(
            ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(2, b"bob's bytes", is_last=True)),
            metadata=BOB,
            timeout=10,
        ),
        "Upload": stream_into,
        "AbortUpload": lambda: stack.ingest.AbortUpload(
            ingest_pb2.AbortUploadRequest(video_id=video_id), metadata=BOB, timeout=10
        ),
        "RetryProcessing": lambda: stack.ingest.RetryProcessing(
            ingest_pb2.RetryVideoProcessingRequest(video_id=video_id), metadata=BOB, timeout=10
        ),
        "DeleteVideo": lambda: stack.ingest.DeleteVideo(
            ingest_pb2.DeleteVideoRequest(video_id=video_id), metadata=BOB, timeout=10
        ),
    }


async def test_another_user_cannot_touch_my_videos(stack, recording_3s):
    ready = await upload_unary(stack, recording_3s.read_bytes(), ALICE, chunk_size=64 * 1024)
    done = await wait_final(stack, ready, ALICE)
    assert done.status == common_pb2.VIDEO_STATUS_READY, done.error
    partial = (
        await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title="in progress"), metadata=ALICE, timeout=10)
    ).video_id
    for i in range(2):
        await stack.ingest.PutChunk(
            ingest_pb2.PutChunkRequest(video_id=partial, chunk=chunk(i, b"a" * 100)), metadata=ALICE, timeout=10
        )
    files_before = tree(stack.storage_root)
    videos_before = {v: await video(stack, v) for v in (ready, partial)}

    async def refusal(name, video_id) -> str:
        """The NOT_FOUND details of bob's call on video_id, with the id itself masked."""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await intruder_calls(stack, video_id)[name]()
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND, f"{name}: {caught.value.details()}"
        return caught.value.details().replace(video_id, "<id>")

    nobodys = uuid.uuid4().hex  # an id no video has
    for target in (ready, partial):
        for name in intruder_calls(stack, target):
            # Word for word what the same call on a video that does not exist gets: nothing tells
            # bob that alice's video is there (or anything else about it).
            assert await refusal(name, target) == await refusal(name, nobodys), name
    listed = await stack.catalog.ListVideos(catalog_pb2.ListVideosRequest(), metadata=BOB, timeout=10)
    assert listed.videos == []

    await asyncio.sleep(0.3)  # anything wrongly started would have begun writing by now
    assert tree(stack.storage_root) == files_before
    assert not (stack.storage_root / "users" / "bob").exists()
    for video_id, before in videos_before.items():
        after = await video(stack, video_id)
        assert (after.status, after.received_chunks, after.received_bytes, list(after.assets)) == (
            before.status,
            before.received_chunks,
            before.received_bytes,
            list(before.assets),
        )
    assert (await video(stack, ready)).status == common_pb2.VIDEO_STATUS_READY
    upload = await state(stack, partial)
    assert list(upload.stored_indices) == [0, 1] and not upload.HasField("last_index")


async def test_not_found_does_not_reveal_that_a_video_exists(stack):
    mine = (await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(), metadata=ALICE, timeout=10)).video_id
    details = []
    for video_id in (mine, "f" * 32):  # alice's, and one that exists for nobody
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await video(stack, video_id, BOB)
        details.append((caught.value.code(), caught.value.details().replace(video_id, "<id>")))
    assert details[0] == details[1]


HOSTILE_TEXT = {
    "dot-dot path": "../../etc/passwd",
    "absolute path": "/abs/path",
    "windows path": "..\\..\\windows\\system32",
    "nul": "a\x00b",
    "10,000 characters": "x" * 10_000,
    "newline": "line\nbreak",
    "escape sequence": "\x1b[31mred",
    "right-to-left override": "rec\u202egnp.exe",
    "right-to-left script": "הקלטה של המסך",
    "empty": "",
    "emoji": "demo 🎬",
    "percent-encoded": "%2e%2e%2fsecret",
}


@pytest.mark.parametrize("field", ["title", "filename", "content_type"])
async def test_hostile_names_are_metadata_or_invalid_and_never_paths(stack, tmp_path, field):
    def outside_storage():
        # All that is not the storage folder or the catalog's own SQLite files.
        return {
            p
            for p in tmp_path.rglob("*")
            if p != stack.storage_root
            and stack.storage_root not in p.parents
            and not p.name.startswith("catalog.sqlite3")
        }

    outside_before = outside_storage()
    for case, text in HOSTILE_TEXT.items():
        try:
            created = await stack.ingest.CreateUpload(
                ingest_pb2.CreateUploadRequest(**{field: text}), metadata=ALICE, timeout=10
            )
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{case}: {exc.code()} {exc.details()}"
            assert field in exc.details()
            continue
        # Accepted: stored verbatim as metadata, and the upload still works under a server-made path.
        got = await video(stack, created.video_id)
        assert getattr(got, field) == text or (field == "content_type" and text == "")
        await stack.ingest.PutChunk(
            ingest_pb2.PutChunkRequest(video_id=created.video_id, chunk=chunk(0, b"bytes")), metadata=ALICE, timeout=10
        )
    assert outside_storage() == outside_before
    assert not pathlib.Path("/abs").exists()
    for path in stack.storage_root.rglob("*"):
        relative = path.relative_to(stack.storage_root).parts
        assert relative[:2] == ("users", "alice")[: len(relative[:2])], path
        assert all(
            part.isascii() and part.replace(".", "").replace("_", "").isalnum() or part == "users" for part in relative
        ), path


async def test_which_hostile_names_are_refused(stack):
    refused = set()
    for case, text in HOSTILE_TEXT.items():
        try:
            await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title=text), metadata=ALICE, timeout=10)
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
            refused.add(case)
    assert refused == {"nul", "10,000 characters", "newline", "escape sequence", "right-to-left override"}
