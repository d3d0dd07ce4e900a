"""What the upload engine needs from the outside world. Adapters: grpc_clients.py (production),
and anything with the same methods in tests."""
from __future__ import annotations

from typing import Protocol

from recorder.v1 import catalog_pb2, common_pb2
from recorder_common.storage import ChunkWrite


class ChunkStore(Protocol):
    async def write_chunk(self, user_id: str, video_id: str, index: int, data: bytes) -> ChunkWrite: ...


class CatalogPort(Protocol):
    async def create_video(self, owner_id: str, title: str, filename: str, content_type: str,
                           expected_size: int) -> str: ...

    async def upload_state(self, owner_id: str, video_id: str) -> common_pb2.UploadState: ...

    async def record_chunk(self, owner_id: str, video_id: str, index: int, size: int, crc32c: int,
                           is_last: bool) -> catalog_pb2.RecordChunkResponse: ...


class MediaPort(Protocol):
    async def process(self, owner_id: str, video_id: str) -> None: ...
