"""The two storage backends keep the same contract: create-only chunks, ranged reads, prefix
deletes, keys confined to their owner. Local files and a real SeaweedFS over S3."""

from __future__ import annotations

import asyncio

import pytest

from recorder_common.errors import InvalidArgument, Unauthenticated
from recorder_common.ids import new_video_id
from recorder_common.objectstore import ObjectStorage
from recorder_common.storage import LocalStorage, UnsafePath, new_write_token
from tests.fakes import RecordedChunks

pytestmark = pytest.mark.both_backends


@pytest.fixture
def store(storage_backend):
    return ObjectStorage(storage_backend) if storage_backend.backend == "s3" else LocalStorage(storage_backend.root)


async def test_chunk_writes_are_create_only_and_separate(store):
    video = new_video_id()
    first, second = new_write_token(), new_write_token()
    await store.write_chunk("alice", video, 0, first, b"first")
    await store.write_chunk("alice", video, 0, second, b"other")  # another write: another file
    with pytest.raises(Exception):  # a reused token never replaces what is stored
        await store.write_chunk("alice", video, 0, first, b"again")
    assert await store.read_chunk("alice", video, 0, first) == b"first"
    assert await store.read_chunk("alice", video, 0, second) == b"other"
    await store.remove_chunk("alice", video, 0, second)
    assert await store.read_chunk("alice", video, 0, first) == b"first"
    assert await store.read_chunk_size("alice", video, 0, first) == 5
    with pytest.raises(FileNotFoundError):
        await store.read_chunk("alice", video, 0, second)
    with pytest.raises(FileNotFoundError):
        await store.read_chunk("alice", video, 1, first)


async def test_concurrent_writers_of_one_chunk_each_keep_their_own_file(store):
    video = new_video_id()
    tokens = [new_write_token() for _ in range(8)]
    await asyncio.gather(*[store.write_chunk("alice", video, 3, t, b"x" * 1000) for t in tokens])
    for t in tokens:
        assert await store.read_chunk("alice", video, 3, t) == b"x" * 1000


async def test_files_by_key_ranges_and_deletes(store, tmp_path):
    video = new_video_id()
    tokens = [new_write_token() for _ in range(3)]
    for i in range(3):
        await store.write_chunk("alice", video, i, tokens[i], bytes([i]) * 10)
    key = store.media_key("alice", video, "original.webm")
    data = bytes(range(256)) * 5000
    if store.remote:
        local = tmp_path / "original.webm"
        local.write_bytes(data)
        await store.upload(local, key)
    else:
        path = store.root / key
        path.write_bytes(data)
    assert await store.size(key) == len(data)
    assert await store.read_range(key, 1000, 300) == data[1000:1300]
    assert await store.read_range(key, len(data) - 5, 100) == data[-5:]
    await store.remove_chunks("alice", video)
    with pytest.raises(FileNotFoundError):
        await store.read_chunk("alice", video, 0, tokens[0])
    assert await store.exists(key)  # outputs stay when the chunks go
    await store.remove_video("alice", video)
    assert not await store.exists(key)
    with pytest.raises(FileNotFoundError):
        await store.size(key)


async def test_keys_from_the_catalog_stay_in_their_owners_space(store):
    video = new_video_id()
    own = store.media_key("alice", video, "thumbnail.jpg")
    assert own.startswith(f"users/alice/videos/{video}/")
    assert store.check_key("alice", own) == own
    for bad in (
        store.media_key("bob", video, "thumbnail.jpg"),
        "users/alice/../bob/videos/x/a.jpg",
        "/etc/passwd",
        "users/alicex/videos/a",
    ):
        with pytest.raises(UnsafePath):
            store.check_key("alice", bad)
    for name in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(UnsafePath):
            store.media_key("alice", video, name)


async def test_users_and_videos_are_validated_ids(store):
    with pytest.raises(Unauthenticated):
        await store.write_chunk("../bob", new_video_id(), 0, new_write_token(), b"x")
    with pytest.raises(InvalidArgument):
        await store.write_chunk("alice", "../../etc", 0, new_write_token(), b"x")
    with pytest.raises(UnsafePath):
        await store.write_chunk("alice", new_video_id(), -1, new_write_token(), b"x")
    with pytest.raises(UnsafePath):
        await store.write_chunk("alice", new_video_id(), 0, "../../../etc/passwd", b"x")


async def test_ffmpeg_reads_a_stored_file_in_place(store, storage_backend, tmp_path, recording_3s):
    """On-demand work gives ffmpeg the stored file itself: a path, or on S3 a short-lived presigned
    URL it reads with range requests, so nothing is downloaded into the scratch folder first."""
    from media_service import commands
    from media_service.containers import Container
    from media_service.files import MediaFiles
    from media_service.runner import FfmpegLimits, run_ffmpeg

    video = new_video_id()
    files = MediaFiles(store, tmp_path / "scratch", RecordedChunks())
    ws = files.workspace("alice", video)
    original = ws.path("original.webm")
    original.write_bytes(recording_3s.read_bytes())
    key, _ = await ws.keep(original)
    if store.remote:
        original.unlink()  # only the bucket has it now
    source = await ws.ffmpeg_input(key)
    assert source.startswith("http://") if store.remote else source == str(original)
    still = tmp_path / "still.jpg"
    await run_ffmpeg(
        commands.still_args("ffmpeg", source, Container.WEBM, str(still), 1.5, 160, "JPEG", False), FfmpegLimits()
    )
    assert still.stat().st_size > 0
    assert [p for p in ws.folder.rglob("*") if p.is_file()] == ([] if store.remote else [original])
    assert await ws.ffmpeg_input(store.media_key("alice", video, "absent.webm")) is None
    with pytest.raises((UnsafePath, InvalidArgument, Unauthenticated)):
        await ws.ffmpeg_input(store.media_key("bob", video, "original.webm"))
    ws.close()
