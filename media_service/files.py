"""Where the media service reads chunks and keeps its outputs, on any Store.

ffmpeg works on local files, so each piece of work (a job, a request, a live session, an encode)
gets a Workspace: a local folder for one video. Two strategies, chosen once at wiring by what the
store can do (workspaces_for):

- a store that is a local folder (LocalPaths): the working folder of a video is its folder in
  storage; outputs are renamed into place and nothing is copied (LocalWorkspace);
- any other store (Transfers): each piece of work gets a private folder under SCRATCH_ROOT; inputs
  are downloaded into it when needed (or read by ffmpeg over HTTP when the store presigns),
  finished outputs are uploaded, and the folder goes when the work ends, so no replica needs a
  disk shared with another (ScratchWorkspace).

Every output is written the same way: `async with ws.output(name, step=...) as out:` hands out a
temporary name (out.tmp) in the folder; leaving the block normally publishes it (fsynced, renamed
into place, stored) and sets out.key and out.size; leaving it by an exception or a cancellation
removes the temporary, and nothing stored changes. A step that runs again (a retry, a worker that
took over an expired lease) therefore never sees half a file.
"""

from __future__ import annotations

import abc
import asyncio
import collections
import contextlib
import dataclasses
import os
import pathlib
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Protocol, runtime_checkable

from recorder_common.storage import LocalPaths, LocalStorage, Presigner, Store, Transfers, check_media_name, publish

STALE_SCRATCH_SECONDS = 24 * 3600

# A temporary output is ".<name>.<step>-<pid>-<random>.tmp": the step says who writes it, so a
# sweep of stale ones can spare the writers that outlive a processing job.
_STEP = re.compile(r"[A-Za-z0-9_]+")
_TEMPORARY = re.compile(r"\.(?P<step>[A-Za-z0-9_]+)-[0-9]+-[0-9a-f]{8}\.tmp")
# The compressed rendition's encode: a live one goes on past the job that makes the video READY.
LONG_LIVED_STEPS = frozenset({"COMPRESS"})


@runtime_checkable
class FolderStore(Store, LocalPaths, Protocol):
    """A store that is a folder on this machine."""


@runtime_checkable
class TransferStore(Store, Transfers, Protocol):
    """A store that files are copied to and from."""


@dataclasses.dataclass
class Output:
    """One output of a workspace: written at tmp, published at path, stored under key."""

    tmp: pathlib.Path
    path: pathlib.Path
    key: str
    size: int = 0  # set once it is published


class Workspace(abc.ABC):
    """One job's or request's local folder for one video."""

    def __init__(self, store: Store, owner_id: str, video_id: str, folder: pathlib.Path) -> None:
        self.store, self.owner_id, self.video_id = store, owner_id, video_id
        self.folder = folder

    def path(self, name: str) -> pathlib.Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / check_media_name(name)

    def key(self, name: str) -> str:
        """The store key (the catalog's path) of this video's file `name`."""
        return self.store.media_key(self.owner_id, self.video_id, name)

    def temporary(self, name: str, step: str) -> pathlib.Path:
        if not _STEP.fullmatch(step):
            raise ValueError(f"bad step name {step!r}")
        return self.path(name).with_name(f".{name}.{step}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")

    @contextlib.asynccontextmanager
    async def output(self, name: str, *, step: str) -> AsyncIterator[Output]:
        """Write out.tmp inside the block; on success it is published as `name` and stored (a
        file of that name is replaced); on failure the temporary goes and the exception goes on."""
        out = Output(self.temporary(name, step), self.path(name), self.key(name))
        try:
            yield out
            await asyncio.to_thread(publish, out.tmp, out.path)
            out.key, out.size = await self.keep(out.path)
        finally:
            out.tmp.unlink(missing_ok=True)

    async def adopt(self, made: pathlib.Path, name: str) -> Output:
        """A finished file made elsewhere on this disk (a live session's output, in its own
        workspace), published here as `name` and stored."""
        out = Output(made, self.path(name), self.key(name))
        await asyncio.to_thread(publish, made, out.path)
        out.key, out.size = await self.keep(out.path)
        return out

    def remove_stale_temporaries(self, step: str | None = None) -> None:
        """Temporary outputs left by work that died. With a step, that step's only (its lease
        holder calls this); without, all but those of LONG_LIVED_STEPS (the processing job calls
        this: it holds the video's lease, so any other temporary here now is stale)."""
        if not self.folder.is_dir():
            return
        for stale in self.folder.glob(f".*.{step}-*.tmp" if step else ".*.tmp"):
            found = _TEMPORARY.search(stale.name)
            if step is None and found is not None and found["step"] in LONG_LIVED_STEPS:
                continue
            stale.unlink(missing_ok=True)

    @abc.abstractmethod
    async def keep(self, path: pathlib.Path) -> tuple[str, int]:
        """A finished file in this folder, stored under its own name. Returns its key and size."""

    @abc.abstractmethod
    async def fetch(self, key: str) -> pathlib.Path | None:
        """A stored file (by its catalog key) as a local file here, or None if it is not stored."""

    @abc.abstractmethod
    async def ffmpeg_input(self, key: str) -> str | None:
        """A stored file (by its catalog key) as ffmpeg input, or None if it is not stored."""

    @abc.abstractmethod
    def close(self) -> None:
        """The work is over: what is not stored goes."""


class LocalWorkspace(Workspace):
    """The video's own folder in a store that is a local folder: outputs are stored by the rename."""

    async def keep(self, path: pathlib.Path) -> tuple[str, int]:
        return self.key(path.name), path.stat().st_size

    async def fetch(self, key: str) -> pathlib.Path | None:
        self.store.check_key(self.owner_id, key)
        local = self.path(pathlib.PurePosixPath(key).name)
        return local if local.exists() else None

    async def ffmpeg_input(self, key: str) -> str | None:
        local = await self.fetch(key)
        return str(local) if local is not None else None

    def close(self) -> None:
        pass


class ScratchWorkspace(Workspace):
    """A private scratch folder of its own, removed on close; outputs are uploaded."""

    store: TransferStore

    def __init__(self, store: TransferStore, owner_id: str, video_id: str, folder: pathlib.Path) -> None:
        super().__init__(store, owner_id, video_id, folder)
        self.store = store

    async def keep(self, path: pathlib.Path) -> tuple[str, int]:
        key = self.key(path.name)
        await self.store.upload(path, key)
        return key, path.stat().st_size

    async def fetch(self, key: str) -> pathlib.Path | None:
        self.store.check_key(self.owner_id, key)
        local = self.path(pathlib.PurePosixPath(key).name)
        if local.exists():
            return local
        try:
            await self.store.download(key, local)
        except FileNotFoundError:
            return None
        return local

    async def ffmpeg_input(self, key: str) -> str | None:
        """With a store that presigns, a URL: ffmpeg reads only the byte ranges it needs instead
        of this folder holding a full download."""
        if not isinstance(self.store, Presigner):
            local = await self.fetch(key)
            return str(local) if local is not None else None
        self.store.check_key(self.owner_id, key)
        try:
            return await self.store.presigned_get(key)
        except FileNotFoundError:
            return None

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


class Workspaces(Protocol):
    """A workspace strategy: how a piece of work gets its folder."""

    def workspace(self, owner_id: str, video_id: str) -> Workspace: ...

    async def remove_stale(self) -> None:
        """Folders of work cut short (a kill -9) that nobody will finish from here."""
        ...


class LocalWorkspaces:
    def __init__(self, store: FolderStore) -> None:
        self.store = store

    def workspace(self, owner_id: str, video_id: str) -> Workspace:
        return LocalWorkspace(self.store, owner_id, video_id, self.store.video_dir(owner_id, video_id))

    async def remove_stale(self) -> None:
        pass  # the folders are the store's own; stale temporaries go when a job runs there


class ScratchWorkspaces:
    def __init__(self, store: TransferStore, scratch_root: pathlib.Path | str) -> None:
        self.store = store
        # A local store only for its validated, confined paths.
        self.scratch = LocalStorage(scratch_root)

    def workspace(self, owner_id: str, video_id: str) -> Workspace:
        # Validated ids in the path, and a fresh folder per piece of work: a job and an on-demand
        # request for the same video never share (or remove) each other's files.
        folder = self.scratch.video_dir(owner_id, video_id) / uuid.uuid4().hex
        return ScratchWorkspace(self.store, owner_id, video_id, folder)

    async def remove_stale(self) -> None:
        def sweep() -> None:
            cutoff = time.time() - STALE_SCRATCH_SECONDS
            for folder in self.scratch.root.glob("users/*/videos/*/*"):
                if folder.is_dir() and folder.stat().st_mtime < cutoff:
                    shutil.rmtree(folder, ignore_errors=True)

        await asyncio.to_thread(sweep)


def workspaces_for(store: Store, scratch_root: pathlib.Path | str) -> Workspaces:
    """The workspace strategy for this store: in place when it is a local folder, scratch
    folders otherwise."""
    if isinstance(store, FolderStore):
        return LocalWorkspaces(store)
    if isinstance(store, TransferStore):
        return ScratchWorkspaces(store, scratch_root)
    raise TypeError(f"{type(store).__name__} is neither a local folder nor transfers files")


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

    def __init__(self, store: Store, workspaces: Workspaces, chunks: ChunkCatalog) -> None:
        self.store = store
        self.workspaces = workspaces
        self.chunks = chunks
        self._tokens: collections.OrderedDict[str, dict[int, str | None]] = collections.OrderedDict()

    def workspace(self, owner_id: str, video_id: str) -> Workspace:
        return self.workspaces.workspace(owner_id, video_id)

    def learn(self, video_id: str, files: Mapping[int, str]) -> None:
        """Recorded chunks' write tokens, as ingest heard them from the catalog (the ChunkStored
        hint): the live session then reads them without a ListChunks call each."""
        known = self._tokens.setdefault(video_id, {})
        known.update(files)
        self._forget_beyond_capacity(video_id)

    def knows(self, video_id: str, index: int) -> bool:
        """Whether chunk `index` is known to be recorded, without asking the catalog."""
        return index in self._tokens.get(video_id, ())

    def _forget_beyond_capacity(self, video_id: str) -> None:
        self._tokens.move_to_end(video_id)
        while len(self._tokens) > self.REMEMBERED_VIDEOS:
            self._tokens.popitem(last=False)

    async def _recorded(self, owner_id: str, video_id: str, index: int) -> tuple[bool, str | None]:
        """Whether the catalog recorded chunk `index`, and its write token. Only recorded chunks'
        files are read: a file in the chunks folder may be a duplicate or refused write on its
        way out."""
        known = self._tokens.get(video_id)
        if known is None or index not in known:
            listed = await self.chunks.list_chunks(owner_id, video_id, index, self.LIST_BATCH)
            known = self._tokens.setdefault(video_id, {})
            known.update((c.index, c.file_token) for c in listed)
            self._forget_beyond_capacity(video_id)
            if index not in known:
                return False, None
        return True, known[index]

    async def read_chunk(self, owner_id: str, video_id: str, index: int) -> bytes:
        """A recorded chunk's bytes. Raises FileNotFoundError when it is not recorded (or its file
        is gone: processing removed the chunks once the source was stored)."""
        recorded, token = await self._recorded(owner_id, video_id, index)
        if not recorded:
            raise FileNotFoundError(f"chunk {index} is not recorded")
        try:
            return await self.store.read_chunk(owner_id, video_id, index, token)
        except FileNotFoundError:
            # The token may be a hint's (ingest's word, not the catalog's): forget it and ask the
            # catalog which file is the chunk, once, rather than miss the same name again.
            self._tokens.get(video_id, {}).pop(index, None)
            recorded, listed = await self._recorded(owner_id, video_id, index)
            if not recorded or listed == token:
                raise
            return await self.store.read_chunk(owner_id, video_id, index, listed)

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

    # ---- stored files by their catalog key (checked to be the owner's own) -------------------
    async def stored_size(self, owner_id: str, key: str) -> int:
        """Raises FileNotFoundError when there is no such file."""
        return (await self.store.stat(self.store.check_key(owner_id, key))).size

    async def read_range(self, owner_id: str, key: str, start: int, length: int) -> bytes:
        return await self.store.read_range(self.store.check_key(owner_id, key), start, length)

    async def remove_key(self, owner_id: str, key: str) -> None:
        await self.store.remove_key(self.store.check_key(owner_id, key))

    async def remove_stale_scratch(self) -> None:
        await self.workspaces.remove_stale()
