"""What a storage backend is: a small core every backend has (Store), and optional capabilities
(tusd's style: one interface per extension, found by asking the object, never by a flag).

Callers hold a Store and ask `isinstance(store, Presigner)` (or LocalPaths, Transfers) where a
capability would let them do better; media_service/files.py chooses its Workspace strategy that
way, once, at wiring. Every backend keeps the same promises, checked by one contract test run on
each (tests/storage_contract.py):

- a chunk write is create-only: a reused (index, token) fails and never replaces stored bytes
  (link() locally, If-None-Match on S3), and two writers of one chunk each keep their own file;
- reads of what is not stored raise FileNotFoundError;
- keys are built from validated ids (keys.py) and keys read back are confined to their owner;
- removing chunks leaves outputs; removing a video removes everything under it.

Ranged reads are in the core, not a capability: every file a client reads (playback with Range,
downloads) is read in pieces, so a backend without them could serve nothing.
"""

from __future__ import annotations

import pathlib
from typing import NamedTuple, Protocol, runtime_checkable


class ObjectStat(NamedTuple):
    size: int
    etag: str  # strong, quoted: changes whenever the object is replaced


@runtime_checkable
class Store(Protocol):
    # ---- keys (the catalog's paths) -----------------------------------------------------------
    def media_key(self, user_id: str, video_id: str, file_name: str) -> str: ...

    def check_key(self, user_id: str, key: str) -> str:
        """A key read back from the catalog, returned if it lies in this user's own space;
        raises UnsafePath otherwise."""
        ...

    # ---- chunks ------------------------------------------------------------------------------
    async def write_chunk(self, user_id: str, video_id: str, index: int, token: str, data: bytes) -> None:
        """Create-only and durable before it returns; raises if this (index, token) exists."""
        ...

    async def read_chunk(self, user_id: str, video_id: str, index: int, token: str | None) -> bytes: ...

    async def read_chunk_size(self, user_id: str, video_id: str, index: int, token: str | None) -> int: ...

    async def remove_chunk(self, user_id: str, video_id: str, index: int, token: str) -> None: ...

    async def remove_chunks(self, user_id: str, video_id: str) -> None: ...

    async def remove_video(self, user_id: str, video_id: str) -> None: ...

    # ---- files by key ------------------------------------------------------------------------
    async def stat(self, key: str) -> ObjectStat: ...

    async def read(self, key: str) -> bytes:
        """The whole object, as one version of it (it may be replaced meanwhile)."""
        ...

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        """Up to length bytes from start (fewer at the end of the object)."""
        ...

    async def remove_key(self, key: str) -> None: ...


@runtime_checkable
class LocalPaths(Protocol):
    """The store is a folder on this machine: its files can be worked on in place."""

    def video_dir(self, user_id: str, video_id: str) -> pathlib.Path: ...


@runtime_checkable
class Transfers(Protocol):
    """Copies between the store and local files (for a store that is not a local folder)."""

    async def upload(self, path: pathlib.Path, key: str) -> None:
        """Put a finished local file under key, replacing what was there (outputs are
        deterministic: a job that runs again writes the same thing)."""
        ...

    async def download(self, key: str, path: pathlib.Path) -> None:
        """Copy an object to a local file (whole or not at all). FileNotFoundError if absent."""
        ...


@runtime_checkable
class Presigner(Protocol):
    """Short-lived URLs that let a local process (ffmpeg) read one object over HTTP."""

    async def presigned_get(self, key: str, valid_seconds: int = 900) -> str:
        """Raises FileNotFoundError when there is no such object."""
        ...
