"""Local-filesystem storage for chunks and media files.

Layout: STORAGE_ROOT/users/<user-id>/videos/<video-id>/{chunks/, source.*, original.*, ...}
Paths are built only from validated server-made ids and a fixed set of file names, and every path
is checked to resolve inside the user's own folder. The store only reads and writes bytes; the
upload engine owns the rules (ordering, idempotency, completion).
"""
from __future__ import annotations

import asyncio
import enum
import os
import pathlib
import shutil
import uuid

from recorder_common.ids import check_user_id, check_video_id


class ChunkWrite(enum.Enum):
    CREATED = "created"
    IDENTICAL = "identical"  # the index was already stored with the same bytes
    CONFLICT = "conflict"  # the index was already stored with different bytes (kept as it was)


class UnsafePath(Exception):
    """A path escaped its owner's folder: a bug, never a client error."""


def chunk_name(index: int) -> str:
    if not isinstance(index, int) or index < 0 or index > 10**10 - 1:
        raise UnsafePath(f"chunk index out of range: {index!r}")
    return f"{index:010d}.chunk"


def check_media_name(file_name: str) -> str:
    """file_name comes from our own code (e.g. "original.webm"), never from a client."""
    if not file_name or "/" in file_name or "\\" in file_name or file_name.startswith("."):
        raise UnsafePath(f"bad media file name {file_name!r}")
    return file_name


def _fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
    """Chunks and media files under one folder. The default backend; objectstore.ObjectStorage is
    the other, with the same async operations (the media service works on these files in place)."""

    remote = False

    def __init__(self, root: pathlib.Path | str) -> None:
        self.root = pathlib.Path(root).resolve()

    # ---- paths -------------------------------------------------------------------------------
    def user_dir(self, user_id: str) -> pathlib.Path:
        return self.root / "users" / check_user_id(user_id)

    def video_dir(self, user_id: str, video_id: str) -> pathlib.Path:
        path = self.user_dir(user_id) / "videos" / check_video_id(video_id)
        self._check_inside(user_id, path)
        return path

    def chunks_dir(self, user_id: str, video_id: str) -> pathlib.Path:
        return self.video_dir(user_id, video_id) / "chunks"

    def chunk_path(self, user_id: str, video_id: str, index: int) -> pathlib.Path:
        return self.chunks_dir(user_id, video_id) / chunk_name(index)

    def media_path(self, user_id: str, video_id: str, file_name: str) -> pathlib.Path:
        path = self.video_dir(user_id, video_id) / check_media_name(file_name)
        self._check_inside(user_id, path)
        return path

    def relative(self, path: pathlib.Path) -> str:
        return str(path.relative_to(self.root))

    def media_key(self, user_id: str, video_id: str, file_name: str) -> str:
        return self.relative(self.media_path(user_id, video_id, file_name))

    def check_key(self, user_id: str, key: str) -> str:
        """A key (path relative to the root) read back from the catalog: it must resolve inside
        this user's own folder."""
        self._check_inside(user_id, self.root / key)
        return key

    def _check_inside(self, user_id: str, path: pathlib.Path) -> None:
        base = self.user_dir(user_id)
        resolved = path.resolve()
        if resolved != base and base not in resolved.parents:
            raise UnsafePath(f"{path} resolves outside {base}")

    # ---- chunks ------------------------------------------------------------------------------
    async def write_chunk(self, user_id: str, video_id: str, index: int, data: bytes) -> ChunkWrite:
        return await asyncio.to_thread(self._write_chunk, user_id, video_id, index, data)

    def _write_chunk(self, user_id: str, video_id: str, index: int, data: bytes) -> ChunkWrite:
        final = self.chunk_path(user_id, video_id, index)
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            return self._compare(final, data)
        tmp = final.parent / f".{index}.{uuid.uuid4().hex}.tmp"
        try:
            try:
                f = open(tmp, "wb")
            except FileNotFoundError:  # a refused chunk's cleanup removed the empty folder just now
                final.parent.mkdir(parents=True, exist_ok=True)
                f = open(tmp, "wb")
            with f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                # link() fails if the name exists: two writers of one index (two replicas, a retry
                # racing its original) cannot both create it, and neither overwrites the other.
                os.link(tmp, final)
            except FileExistsError:
                return self._compare(final, data)
            _fsync_dir(final.parent)
            return ChunkWrite.CREATED
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def _compare(path: pathlib.Path, data: bytes) -> ChunkWrite:
        if path.stat().st_size != len(data):
            return ChunkWrite.CONFLICT
        return ChunkWrite.IDENTICAL if path.read_bytes() == data else ChunkWrite.CONFLICT

    async def remove_chunk(self, user_id: str, video_id: str, index: int) -> None:
        await asyncio.to_thread(self._remove_chunk, user_id, video_id, index)

    def _remove_chunk(self, user_id: str, video_id: str, index: int) -> None:
        path = self.chunk_path(user_id, video_id, index)
        path.unlink(missing_ok=True)
        # Folders a refused chunk created go too (only when empty: other chunks stay).
        for folder in (path.parent, path.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break

    async def read_chunk(self, user_id: str, video_id: str, index: int) -> bytes:
        """Raises FileNotFoundError when the chunk is not stored."""
        return await asyncio.to_thread(self.chunk_path(user_id, video_id, index).read_bytes)

    async def chunk_exists(self, user_id: str, video_id: str, index: int) -> bool:
        return await asyncio.to_thread(self.chunk_path(user_id, video_id, index).exists)

    async def remove_video(self, user_id: str, video_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.video_dir(user_id, video_id), True)

    async def delete_chunks(self, user_id: str, video_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.chunks_dir(user_id, video_id), True)

    # ---- files, by key (the path relative to the root, as the catalog keeps it) ---------------
    async def read_range(self, key: str, start: int, length: int) -> bytes:
        def read() -> bytes:
            with open(self.root / key, "rb") as f:
                f.seek(start)
                return f.read(max(length, 0))
        return await asyncio.to_thread(read)

    async def size(self, key: str) -> int:
        """Raises FileNotFoundError when there is no such file."""
        return (await asyncio.to_thread((self.root / key).stat)).st_size

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread((self.root / key).exists)

    async def delete_key(self, key: str) -> None:
        await asyncio.to_thread((self.root / key).unlink, True)


def fsync_file(path: pathlib.Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def publish(tmp: pathlib.Path, final: pathlib.Path) -> None:
    """Move a finished output into place atomically, durable across a crash."""
    fsync_file(tmp)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
