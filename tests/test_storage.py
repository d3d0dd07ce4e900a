"""Storage keys and paths are built only from validated ids and stay inside the user's folder:
on every Store implementation (the key checks need no server, so S3's run offline here), and the
local folder's own paths."""

from __future__ import annotations

import pytest

from recorder_common.errors import InvalidArgument, Unauthenticated
from recorder_common.ids import new_video_id
from recorder_common.storage import LocalStorage, StorageSettings, Store, UnsafePath, new_write_token
from recorder_common.storage.s3 import ObjectStorage
from tests.unit.fakes import MemoryStore


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "root")


@pytest.fixture(params=["local", "s3", "memory"])
def any_store(request, tmp_path) -> Store:
    if request.param == "local":
        return LocalStorage(tmp_path / "root")
    if request.param == "s3":  # nothing below reaches the endpoint: the keys are refused first
        return ObjectStorage(StorageSettings(backend="s3", s3_bucket="unused", s3_endpoint="http://127.0.0.1:9"))
    return MemoryStore()


def test_layout(storage, tmp_path):
    vid = new_video_id()
    token = new_write_token()
    path = storage.chunk_path("alice", vid, 7, token)
    assert path == tmp_path / "root" / "users" / "alice" / "videos" / vid / "chunks" / f"0000000007.{token}.chunk"
    # Chunks stored before write tokens keep their index-only name.
    assert storage.chunk_path("alice", vid, 7, None).name == "0000000007.chunk"


@pytest.mark.parametrize("token", ["../../x", "A" * 32, "0" * 31, "0" * 33, "", "g" * 32])
async def test_bad_write_tokens_are_refused(any_store, token):
    with pytest.raises(UnsafePath):
        await any_store.write_chunk("alice", new_video_id(), 0, token, b"x")
    with pytest.raises(UnsafePath):
        await any_store.read_chunk("alice", new_video_id(), 0, token)


@pytest.mark.parametrize("user", ["../etc", "a/b", "", ".", "..", "a\0b", "x" * 65, "ünï"])
async def test_bad_user_ids_are_refused(any_store, user):
    with pytest.raises(Unauthenticated):
        any_store.media_key(user, new_video_id(), "original.webm")
    with pytest.raises(Unauthenticated):
        await any_store.remove_video(user, new_video_id())


@pytest.mark.parametrize("video", ["../../x", "ABCDEF" * 6, "", "0" * 31, "g" * 32, "/" + "0" * 31])
async def test_bad_video_ids_are_refused(any_store, video):
    with pytest.raises(InvalidArgument):
        any_store.media_key("alice", video, "original.webm")
    with pytest.raises(InvalidArgument):
        await any_store.remove_chunks("alice", video)


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", ""])
def test_media_names_cannot_escape(any_store, name):
    with pytest.raises(UnsafePath):
        any_store.media_key("alice", new_video_id(), name)


@pytest.mark.parametrize("user", ["../etc", "", "x" * 65])
def test_the_local_folders_paths_are_validated_too(storage, user):
    with pytest.raises(Unauthenticated):
        storage.video_dir(user, new_video_id())
    with pytest.raises(UnsafePath):
        storage.media_path("alice", new_video_id(), "../x")


def test_symlinked_video_dir_escaping_the_user_folder_is_caught(storage, tmp_path):
    vid = new_video_id()
    (tmp_path / "root" / "users" / "alice" / "videos").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "root" / "users" / "alice" / "videos" / vid).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePath):
        storage.video_dir("alice", vid)


async def test_each_write_of_a_chunk_has_a_file_of_its_own(storage):
    vid = new_video_id()
    first, second = new_write_token(), new_write_token()
    await storage.write_chunk("alice", vid, 0, first, b"abc")
    await storage.write_chunk("alice", vid, 0, second, b"abc")
    await storage.remove_chunk("alice", vid, 0, second)  # the second write's own file only
    assert await storage.read_chunk("alice", vid, 0, first) == b"abc"
    leftovers = [p.name for p in storage.chunks_dir("alice", vid).iterdir()]
    assert leftovers == [f"0000000000.{first}.chunk"]  # no temporary files left behind
    with pytest.raises(FileExistsError):  # a reused token never replaces a chunk file
        await storage.write_chunk("alice", vid, 0, first, b"xyz")
    assert await storage.read_chunk("alice", vid, 0, first) == b"abc"
