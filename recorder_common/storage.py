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
from collections.abc import Iterator

from recorder_common.ids import check_user_id, check_video_id


class ChunkWrite(enum.Enum):
    CREATED = "created"
    IDENTICAL = "identical"  # the index was already stored with the same bytes
    CONFLICT = "conflict"  # the index was already stored with different bytes (kept as it was)


class UnsafePath(Exception):
    """A path escaped its owner's folder: a bug, never a client error."""


def _fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
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
        if not isinstance(index, int) or index < 0 or index > 10**10 - 1:
            raise UnsafePath(f"chunk index out of range: {index!r}")
        return self.chunks_dir(user_id, video_id) / f"{index:010d}.chunk"

    def media_path(self, user_id: str, video_id: str, file_name: str) -> pathlib.Path:
        """file_name comes from our own code (e.g. "original.webm"), never from a client."""
        if "/" in file_name or file_name.startswith(".") or not file_name:
            raise UnsafePath(f"bad media file name {file_name!r}")
        path = self.video_dir(user_id, video_id) / file_name
        self._check_inside(user_id, path)
        return path

    def relative(self, path: pathlib.Path) -> str:
        return str(path.relative_to(self.root))

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

    def iter_chunk_paths(self, user_id: str, video_id: str, last_index: int) -> Iterator[pathlib.Path]:
        for index in range(last_index + 1):
            yield self.chunk_path(user_id, video_id, index)

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

    async def remove_video(self, user_id: str, video_id: str) -> None:
        await asyncio.to_thread(self.delete_video, user_id, video_id)

    def delete_chunks(self, user_id: str, video_id: str) -> None:
        shutil.rmtree(self.chunks_dir(user_id, video_id), ignore_errors=True)

    def delete_video(self, user_id: str, video_id: str) -> None:
        shutil.rmtree(self.video_dir(user_id, video_id), ignore_errors=True)


def fsync_file(path: pathlib.Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def publish(tmp: pathlib.Path, final: pathlib.Path) -> None:
    """Move a finished output into place atomically, durable across a crash."""
    fsync_file(tmp)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
