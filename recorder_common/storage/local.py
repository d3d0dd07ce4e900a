"""Chunks and media files under one folder on this machine: the default backend.

Layout: STORAGE_ROOT/<key> (keys.py). Every path is checked to resolve inside the user's own
folder, so a symlink cannot lead out. The store only reads and writes bytes; the upload engine
owns the rules (ordering, idempotency, completion).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import uuid

from recorder_common.ids import check_user_id, check_video_id
from recorder_common.storage.contract import ObjectStat
from recorder_common.storage.keys import UnsafePath, check_media_name, chunk_name


def _fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
    """A Store with LocalPaths: the media service works on these files in place."""

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

    def chunk_path(self, user_id: str, video_id: str, index: int, token: str | None) -> pathlib.Path:
        return self.chunks_dir(user_id, video_id) / chunk_name(index, token)

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
    async def write_chunk(self, user_id: str, video_id: str, index: int, token: str, data: bytes) -> None:
        """Store one write of a chunk under its own name, durably (fsynced) before returning."""
        await asyncio.to_thread(self._write_chunk, user_id, video_id, index, token, data)

    def _write_chunk(self, user_id: str, video_id: str, index: int, token: str, data: bytes) -> None:
        final = self.chunk_path(user_id, video_id, index, token)
        tmp = final.parent / f".{index}.{uuid.uuid4().hex}.tmp"
        try:
            for attempt in range(3):
                try:
                    final.parent.mkdir(parents=True, exist_ok=True)
                    f = open(tmp, "wb")
                    break
                except FileNotFoundError:  # another request's cleanup removed the empty folder
                    if attempt == 2:
                        raise
            with f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # link() never replaces: a (vanishingly unlikely) reused token fails instead of
            # overwriting a chunk file.
            os.link(tmp, final)
            _fsync_dir(final.parent)
        finally:
            tmp.unlink(missing_ok=True)

    async def remove_chunk(self, user_id: str, video_id: str, index: int, token: str) -> None:
        """Remove one write's file. Only its own request calls this, and only when the catalog
        did not record that write (see ingest_service/engine.py)."""
        await asyncio.to_thread(self._remove_chunk, user_id, video_id, index, token)

    def _remove_chunk(self, user_id: str, video_id: str, index: int, token: str) -> None:
        path = self.chunk_path(user_id, video_id, index, token)
        path.unlink(missing_ok=True)
        # Folders a refused chunk created go too (only when empty: other chunks stay).
        for folder in (path.parent, path.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break

    async def read_chunk_size(self, user_id: str, video_id: str, index: int, token: str | None) -> int:
        """Raises FileNotFoundError when the chunk is not stored."""
        return (await asyncio.to_thread(self.chunk_path(user_id, video_id, index, token).stat)).st_size

    async def read_chunk(self, user_id: str, video_id: str, index: int, token: str | None) -> bytes:
        """Raises FileNotFoundError when the chunk is not stored."""
        return await asyncio.to_thread(self.chunk_path(user_id, video_id, index, token).read_bytes)

    async def remove_video(self, user_id: str, video_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.video_dir(user_id, video_id), True)

    async def remove_chunks(self, user_id: str, video_id: str) -> None:
        await asyncio.to_thread(shutil.rmtree, self.chunks_dir(user_id, video_id), True)

    # ---- files, by key (the path relative to the root, as the catalog keeps it) ---------------
    async def read(self, key: str) -> bytes:
        # One open(): a file replaced by a rename meanwhile is read whole, old or new.
        return await asyncio.to_thread((self.root / key).read_bytes)

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        def read() -> bytes:
            with open(self.root / key, "rb") as f:
                f.seek(start)
                return f.read(max(length, 0))

        return await asyncio.to_thread(read)

    async def stat(self, key: str) -> ObjectStat:
        """Size and a strong ETag (size and modification time: an output is only ever replaced by
        a rename, which changes both). Raises FileNotFoundError when there is no such file."""
        st = await asyncio.to_thread((self.root / key).stat)
        return ObjectStat(st.st_size, f'"{st.st_size:x}-{st.st_mtime_ns:x}"')

    async def remove_key(self, key: str) -> None:
        await asyncio.to_thread((self.root / key).unlink, True)


def fsync_file(path: pathlib.Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def publish(tmp: pathlib.Path, final: pathlib.Path) -> None:
    """Move a finished output into place atomically, durable across a crash."""
    fsync_file(tmp)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
