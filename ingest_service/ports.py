"""What the upload engine needs from the outside world. Adapters: grpc_clients.py (production),
and anything with the same methods in tests."""
from __future__ import annotations

from typing import Protocol

from recorder.v1 import catalog_pb2, common_pb2
from recorder_common.storage import ChunkWrite


class ChunkStore(Protocol):
    async def write_chunk(self, user_id: str, video_id: str, index: int, data: bytes) -> ChunkWrite: ...

    async def remove_chunk(self, user_id: str, video_id: str, index: int) -> None: ...

    async def remove_video(self, user_id: str, video_id: str) -> None: ...

    async def delete_chunks(self, user_id: str, video_id: str) -> None: ...


class CatalogPort(Protocol):
    async def create_video(self, owner_id: str, title: str, filename: str, content_type: str,
                           expected_size: int) -> str: ...

    async def upload_state(self, owner_id: str, video_id: str,
                           summary_only: bool = False) -> common_pb2.UploadState: ...

    async def record_chunks(self, owner_id: str, video_id: str, chunks: list[catalog_pb2.StoredChunk],
                            max_upload_bytes: int, user_quota_bytes: int) -> catalog_pb2.RecordChunksResponse: ...

    async def mark_deleted(self, owner_id: str, video_id: str, abort_only: bool) -> None: ...

    async def purge(self, owner_id: str, video_id: str) -> None: ...

    async def retry_processing(self, owner_id: str, video_id: str) -> common_pb2.Video: ...

    async def expire_stale(self, idle_seconds: int, limit: int) -> list[tuple[str, str]]: ...

    async def list_deleted(self, older_than_seconds: int, limit: int) -> list[tuple[str, str]]: ...

    async def list_ready_with_chunks(self, older_than_seconds: int, limit: int) -> list[tuple[str, str]]: ...

    async def forget_chunks(self, owner_id: str, video_id: str) -> int: ...


class MediaPort(Protocol):
    async def process(self, owner_id: str, video_id: str) -> None: ...

    async def chunk_stored(self, owner_id: str, video_id: str, index: int) -> bool:
        """Returns whether media is processing this upload live (following its chunks)."""
