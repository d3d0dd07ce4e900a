"""Where the media service reads chunks and keeps its outputs, on either storage backend.

ffmpeg works on local files. With local storage the working folder of a video is its folder in
storage: outputs are renamed into place and nothing is copied. With an object store, each job or
request gets a private working folder under SCRATCH_ROOT: inputs are downloaded into it when
needed, finished outputs are uploaded, and the folder goes when the work ends, so no replica needs
a disk shared with another.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import pathlib
import shutil
import time
import uuid
from typing import Protocol

from recorder_common.objectstore import ObjectStorage
from recorder_common.storage import LocalStorage, check_media_name

STALE_SCRATCH_SECONDS = 24 * 3600


class Workspace:
    """One job's or request's local folder for one video."""

    def __init__(self, files: "MediaFiles", owner_id: str, video_id: str, folder: pathlib.Path, private: bool) -> None:
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


@dataclasses.dataclass(frozen=True)
class RecordedChunk:
    index: int
    file_token: str | None  # names the write whose file is the chunk (storage.chunk_name)


class ChunkCatalog(Protocol):
    """Which chunks the catalog recorded, and which write's file each one is."""

    async def list_chunks(self, owner_id: str, video_id: str, from_index: int, limit: int) -> list[RecordedChunk]: ...


class MediaFiles:
    # Tokens of recorded chunks never change, so they are remembered; this many videos' worth.
    REMEMBERED_VIDEOS = 256
    LIST_BATCH = 1000

    def __init__(
        self, store: LocalStorage | ObjectStorage, scratch_root: pathlib.Path | str, chunks: ChunkCatalog
    ) -> None:
        self.store = store
        self.scratch = LocalStorage(scratch_root)
        self.chunks = chunks
        self._tokens: collections.OrderedDict[str, dict[int, str | None]] = collections.OrderedDict()

    def workspace(self, owner_id: str, video_id: str) -> Workspace:
        if not self.store.remote:
            return Workspace(self, owner_id, video_id, self.store.video_dir(owner_id, video_id), private=False)
        # Validated ids in the path, and a fresh folder per piece of work: a job and an on-demand
        # request for the same video never share (or remove) each other's files.
        folder = self.scratch.video_dir(owner_id, video_id) / uuid.uuid4().hex
        return Workspace(self, owner_id, video_id, folder, private=True)

    async def _recorded(self, owner_id: str, video_id: str, index: int) -> tuple[bool, str | None]:
        """Whether the catalog recorded chunk `index`, and its write token. Only recorded chunks'
        files are read: a file in the chunks folder may be a duplicate or refused write on its
        way out."""
        known = self._tokens.get(video_id)
        if known is None or index not in known:
            listed = await self.chunks.list_chunks(owner_id, video_id, index, self.LIST_BATCH)
            known = self._tokens.setdefault(video_id, {})
            known.update((c.index, c.file_token) for c in listed)
            self._tokens.move_to_end(video_id)
            while len(self._tokens) > self.REMEMBERED_VIDEOS:
                self._tokens.popitem(last=False)
            if index not in known:
                return False, None
        return True, known[index]

    async def read_chunk(self, owner_id: str, video_id: str, index: int) -> bytes:
        """A recorded chunk's bytes. Raises FileNotFoundError when it is not recorded (or its file
        is gone: processing removed the chunks once the source was stored)."""
        recorded, token = await self._recorded(owner_id, video_id, index)
        if not recorded:
            raise FileNotFoundError(f"chunk {index} is not recorded")
        return await self.store.read_chunk(owner_id, video_id, index, token)

    async def chunk_exists(self, owner_id: str, video_id: str, index: int) -> bool:
        """Whether the catalog recorded chunk `index` (its file then exists until the video is
        READY or gone)."""
        return (await self._recorded(owner_id, video_id, index))[0]

    async def chunk_file_exists(self, owner_id: str, video_id: str, index: int) -> bool:
        """Recorded, and its file still stored (not yet removed after READY)."""
        recorded, token = await self._recorded(owner_id, video_id, index)
        if not recorded:
            return False
        try:
            await self.store.read_chunk_size(owner_id, video_id, index, token)
        except FileNotFoundError:
            return False
        return True

    async def remove_chunks(self, owner_id: str, video_id: str) -> None:
        self._tokens.pop(video_id, None)
        await self.store.remove_chunks(owner_id, video_id)

    async def remove_key(self, owner_id: str, key: str) -> None:
        await self.store.remove_key(self.store.check_key(owner_id, key))

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
