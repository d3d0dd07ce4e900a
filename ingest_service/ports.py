"""What the upload engine needs from the outside world, in the engine's own terms (no protobuf):
the adapters translate (grpc_clients.py in production, tests/unit/fakes.py in the unit tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol

from recorder_common.uploads import UploadState
from recorder_common.vocab import ChunkOutcome, RenditionKind, VideoRef, VideoStatus

__all__ = ["CatalogPort", "ChunkStore", "MediaPort", "PendingChunk", "RecordedChunks", "UploadState"]


@dataclasses.dataclass(frozen=True)
class PendingChunk:
    """A chunk checked (and written to storage, unless the upload takes no bytes), not yet
    recorded in the catalog."""

    index: int
    size: int
    crc32c: int
    is_last: bool
    file_token: str | None  # the file this request wrote; None when it wrote none


@dataclasses.dataclass(frozen=True)
class RecordedChunks:
    """The catalog's answer to recording a request's chunks (all of them, or a refusal raised)."""

    outcomes: list[ChunkOutcome]  # one per chunk, in order
    state: UploadState
    completed_upload: bool  # these chunks completed the upload: exactly one caller sees True


class ChunkStore(Protocol):
    async def write_chunk(self, user_id: str, video_id: str, index: int, token: str, data: bytes) -> None: ...

    async def remove_chunk(self, user_id: str, video_id: str, index: int, token: str) -> None: ...

    async def remove_video(self, user_id: str, video_id: str) -> None: ...

    async def remove_chunks(self, user_id: str, video_id: str) -> None: ...


class CatalogPort(Protocol):
    async def create_video(
        self, owner_id: str, title: str, filename: str, content_type: str, expected_size: int
    ) -> str: ...

    async def upload_state(self, owner_id: str, video_id: str, summary_only: bool = False) -> UploadState: ...

    async def record_chunks(
        self, owner_id: str, video_id: str, chunks: list[PendingChunk], max_upload_bytes: int, user_quota_bytes: int
    ) -> RecordedChunks: ...

    async def mark_deleted(self, owner_id: str, video_id: str, abort_only: bool) -> None: ...

    async def purge(self, owner_id: str, video_id: str) -> None: ...

    async def retry_processing(
        self, owner_id: str, video_id: str, rendition: RenditionKind | None = None
    ) -> VideoStatus | None: ...

    async def expire_stale(self, idle_seconds: int, limit: int) -> list[VideoRef]: ...

    async def list_deleted(self, older_than_seconds: int, limit: int) -> list[VideoRef]: ...

    async def list_ready_with_chunks(self, older_than_seconds: int, limit: int) -> list[VideoRef]: ...

    async def forget_chunks(self, owner_id: str, video_id: str) -> int: ...

    async def fail_exhausted_jobs(self, limit: int) -> list[VideoRef]: ...


class MediaPort(Protocol):
    async def process(self, owner_id: str, video_id: str) -> None: ...

    async def chunk_stored(self, owner_id: str, video_id: str, index: int, files: Mapping[int, str]) -> bool:
        """Chunks up to `index` were stored; `files`: the write token the catalog recorded for each
        chunk the request stored. Returns whether media is processing this upload live (following
        its chunks)."""
        ...
