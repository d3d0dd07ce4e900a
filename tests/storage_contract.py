"""The storage contract (recorder_common/storage/contract.py), as checks any Store must pass.

Run on every implementation: the local folder and S3 (tests/test_storage_backends.py) and the
in-memory fake (tests/unit/test_storage_contract.py). Each check takes the store and a scratch
folder; files are put by key the way the media service puts them, through a workspace.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Awaitable, Callable

import pytest

from media_service.files import workspaces_for
from recorder_common.errors import InvalidArgument, Unauthenticated
from recorder_common.ids import new_video_id
from recorder_common.storage import Store, UnsafePath, new_write_token

Check = Callable[[Store, pathlib.Path], Awaitable[None]]


async def put_file(store: Store, scratch: pathlib.Path, owner: str, video: str, name: str, data: bytes) -> str:
    """Store `data` as this video's file `name` (in place, or uploaded); returns its key."""
    ws = workspaces_for(store, scratch).workspace(owner, video)
    try:
        async with ws.output(name, step="TEST") as out:
            out.tmp.write_bytes(data)
    finally:
        ws.close()
    return out.key


async def stored(store: Store, key: str) -> bool:
    try:
        await store.stat(key)
    except FileNotFoundError:
        return False
    return True


async def chunk_writes_are_create_only_and_separate(store: Store, scratch: pathlib.Path) -> None:
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
    with pytest.raises(FileNotFoundError):
        await store.read_chunk_size("alice", video, 1, first)


async def concurrent_writers_of_one_chunk_each_keep_their_own_file(store: Store, scratch: pathlib.Path) -> None:
    video = new_video_id()
    tokens = [new_write_token() for _ in range(8)]
    await asyncio.gather(*[store.write_chunk("alice", video, 3, t, b"x" * 1000) for t in tokens])
    for t in tokens:
        assert await store.read_chunk("alice", video, 3, t) == b"x" * 1000


async def files_by_key_ranges_and_removes(store: Store, scratch: pathlib.Path) -> None:
    video = new_video_id()
    tokens = [new_write_token() for _ in range(3)]
    for i in range(3):
        await store.write_chunk("alice", video, i, tokens[i], bytes([i]) * 10)
    data = bytes(range(256)) * 5000
    key = await put_file(store, scratch, "alice", video, "original.webm", data)
    assert key == store.media_key("alice", video, "original.webm")
    assert (await store.stat(key)).size == len(data)
    assert await store.read(key) == data
    assert await store.read_range(key, 1000, 300) == data[1000:1300]
    assert await store.read_range(key, len(data) - 5, 100) == data[-5:]
    assert await store.read_range(key, 0, 0) == b""
    await store.remove_chunks("alice", video)
    with pytest.raises(FileNotFoundError):
        await store.read_chunk("alice", video, 0, tokens[0])
    assert await stored(store, key)  # outputs stay when the chunks go
    await store.remove_video("alice", video)
    assert not await stored(store, key)
    for absent in (store.read(key), store.read_range(key, 0, 10)):
        with pytest.raises(FileNotFoundError):
            await absent


async def a_replaced_file_has_a_new_etag(store: Store, scratch: pathlib.Path) -> None:
    video = new_video_id()
    key = await put_file(store, scratch, "alice", video, "thumbnail.jpg", b"one")
    before = await store.stat(key)
    await put_file(store, scratch, "alice", video, "thumbnail.jpg", b"other")
    after = await store.stat(key)
    assert after.size == 5 and after.etag != before.etag
    assert after.etag.startswith('"') and after.etag.endswith('"')
    await store.remove_key(key)
    await store.remove_key(key)  # removing what is gone is no error
    assert not await stored(store, key)


async def keys_from_the_catalog_stay_in_their_owners_space(store: Store, scratch: pathlib.Path) -> None:
    video = new_video_id()
    own = store.media_key("alice", video, "thumbnail.jpg")
    assert own == f"users/alice/videos/{video}/thumbnail.jpg"
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


async def users_videos_and_tokens_are_validated(store: Store, scratch: pathlib.Path) -> None:
    with pytest.raises(Unauthenticated):
        await store.write_chunk("../bob", new_video_id(), 0, new_write_token(), b"x")
    with pytest.raises(InvalidArgument):
        await store.write_chunk("alice", "../../etc", 0, new_write_token(), b"x")
    with pytest.raises(UnsafePath):
        await store.write_chunk("alice", new_video_id(), -1, new_write_token(), b"x")
    with pytest.raises(UnsafePath):
        await store.write_chunk("alice", new_video_id(), 0, "../../../etc/passwd", b"x")
    with pytest.raises(Unauthenticated):
        store.media_key("../bob", new_video_id(), "original.webm")


CONTRACT: list[Check] = [
    chunk_writes_are_create_only_and_separate,
    concurrent_writers_of_one_chunk_each_keep_their_own_file,
    files_by_key_ranges_and_removes,
    a_replaced_file_has_a_new_etag,
    keys_from_the_catalog_stay_in_their_owners_space,
    users_videos_and_tokens_are_validated,
]
