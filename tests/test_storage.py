"""Storage paths are built only from validated ids and stay inside the user's folder."""
from __future__ import annotations

import pytest

from recorder_common.errors import InvalidArgument, Unauthenticated
from recorder_common.ids import new_video_id
from recorder_common.storage import ChunkWrite, LocalStorage, UnsafePath


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(tmp_path / "root")


def test_layout(storage, tmp_path):
    vid = new_video_id()
    path = storage.chunk_path("alice", vid, 7)
    assert path == tmp_path / "root" / "users" / "alice" / "videos" / vid / "chunks" / "0000000007.chunk"


@pytest.mark.parametrize("user", ["../etc", "a/b", "", ".", "..", "a\0b", "x" * 65, "ünï"])
def test_bad_user_ids_are_refused(storage, user):
    with pytest.raises(Unauthenticated):
        storage.video_dir(user, new_video_id())


@pytest.mark.parametrize("video", ["../../x", "ABCDEF" * 6, "", "0" * 31, "g" * 32, "/" + "0" * 31])
def test_bad_video_ids_are_refused(storage, video):
    with pytest.raises(InvalidArgument):
        storage.video_dir("alice", video)


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", ""])
def test_media_names_cannot_escape(storage, name):
    with pytest.raises(UnsafePath):
        storage.media_path("alice", new_video_id(), name)


def test_symlinked_video_dir_escaping_the_user_folder_is_caught(storage, tmp_path):
    vid = new_video_id()
    (tmp_path / "root" / "users" / "alice" / "videos").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "root" / "users" / "alice" / "videos" / vid).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePath):
        storage.video_dir("alice", vid)


async def test_chunk_write_is_create_once(storage):
    vid = new_video_id()
    assert await storage.write_chunk("alice", vid, 0, b"abc") is ChunkWrite.CREATED
    assert await storage.write_chunk("alice", vid, 0, b"abc") is ChunkWrite.IDENTICAL
    assert await storage.write_chunk("alice", vid, 0, b"abd") is ChunkWrite.CONFLICT
    assert await storage.write_chunk("alice", vid, 0, b"abcd") is ChunkWrite.CONFLICT
    assert storage.chunk_path("alice", vid, 0).read_bytes() == b"abc"
    leftovers = [p.name for p in storage.chunks_dir("alice", vid).iterdir()]
    assert leftovers == ["0000000000.chunk"]  # no temporary files left behind
