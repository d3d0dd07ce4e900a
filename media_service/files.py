"""Where the media service reads chunks and keeps its outputs, on either storage backend.

ffmpeg works on local files. With local storage the working folder of a video is its folder in
storage: outputs are renamed into place and nothing is copied. With an object store, each job or
request gets a private working folder under SCRATCH_ROOT: inputs are downloaded into it when
needed, finished outputs are uploaded, and the folder goes when the work ends, so no replica needs
a disk shared with another.
"""
from __future__ import annotations

import asyncio
import pathlib
import shutil
import time
import uuid

from recorder_common.objectstore import ObjectStorage
from recorder_common.storage import LocalStorage, check_media_name

STALE_SCRATCH_SECONDS = 24 * 3600


class Workspace:
    """One job's or request's local folder for one video."""

    def __init__(self, files: "MediaFiles", owner_id: str, video_id: str, folder: pathlib.Path,
                 private: bool) -> None:
        self.files, self.owner_id, self.video_id = files, owner_id, video_id
        self.folder = folder
        self.private = private  # a scratch folder of its own, removed on close

    def path(self, name: str) -> pathlib.Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / check_media_name(name)

    async def keep(self, path: pathlib.Path) -> tuple[str, int]:
        """A finished output in this folder: stored (uploaded when the store is remote).
        Returns its key (the catalog's path) and size."""
        store = self.files.store
        key = store.media_key(self.owner_id, self.video_id, path.name)
        if store.remote:
            await store.upload(path, key)
        return key, path.stat().st_size

    async def fetch(self, key: str) -> pathlib.Path | None:
        """A stored file (by its catalog key) as a local file here, or None if it is not stored."""
        store = self.files.store
        store.check_key(self.owner_id, key)
        local = self.path(pathlib.PurePosixPath(key).name)
        if not store.remote or local.exists():
            return local if local.exists() else None
        try:
            await store.download(key, local)
        except FileNotFoundError:
            return None
        return local

    async def ffmpeg_input(self, key: str) -> str | None:
        """A stored file (by its catalog key) as ffmpeg input, or None if it is not stored: its
        path with local storage; with an object store a presigned URL, so ffmpeg reads only the
        byte ranges it needs instead of this folder holding a full download."""
        store = self.files.store
        store.check_key(self.owner_id, key)
        if not store.remote:
            local = await self.fetch(key)
            return str(local) if local is not None else None
        try:
            return await store.input_url(key)
        except FileNotFoundError:
            return None

    def remove_stale_temporaries(self) -> None:
        """Temporary outputs left by a worker that died (local storage: the video's own folder).
        Only the lease holder runs a job, so any temporary file in the folder now is stale."""
        if self.folder.is_dir():
            for stale in self.folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)

    def close(self) -> None:
        if self.private:
            shutil.rmtree(self.folder, ignore_errors=True)


class MediaFiles:
    def __init__(self, store: LocalStorage | ObjectStorage, scratch_root: pathlib.Path | str) -> None:
        self.store = store
        self.scratch = LocalStorage(scratch_root)

    def workspace(self, owner_id: str, video_id: str) -> Workspace:
        if not self.store.remote:
            return Workspace(self, owner_id, video_id, self.store.video_dir(owner_id, video_id), private=False)
        # Validated ids in the path, and a fresh folder per piece of work: a job and an on-demand
        # request for the same video never share (or remove) each other's files.
        folder = self.scratch.video_dir(owner_id, video_id) / uuid.uuid4().hex
        return Workspace(self, owner_id, video_id, folder, private=True)

    async def read_chunk(self, owner_id: str, video_id: str, index: int) -> bytes:
        return await self.store.read_chunk(owner_id, video_id, index)

    async def chunk_exists(self, owner_id: str, video_id: str, index: int) -> bool:
        return await self.store.chunk_exists(owner_id, video_id, index)

    async def delete_chunks(self, owner_id: str, video_id: str) -> None:
        await self.store.delete_chunks(owner_id, video_id)

    async def delete_key(self, owner_id: str, key: str) -> None:
        await self.store.delete_key(self.store.check_key(owner_id, key))

    async def remove_stale_scratch(self) -> None:
        """Scratch folders of work cut short (a kill -9) that nobody will finish from here."""
        if not self.store.remote:
            return

        def sweep() -> None:
            cutoff = time.time() - STALE_SCRATCH_SECONDS
            for folder in self.scratch.root.glob("users/*/videos/*/*"):
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)

        await asyncio.to_thread(sweep)
