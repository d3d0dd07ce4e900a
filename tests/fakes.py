"""In-memory stand-ins for ports, for tests of one component without the others."""

from __future__ import annotations

from media_service.files import RecordedChunk
from recorder_common.storage import new_write_token


class RecordedChunks:
    """media_service.files.ChunkCatalog without a catalog: what write() stored counts as recorded."""

    def __init__(self) -> None:
        self.tokens: dict[tuple[str, str], dict[int, str]] = {}

    async def write(self, store, owner_id: str, video_id: str, index: int, data: bytes) -> str:
        token = new_write_token()
        await store.write_chunk(owner_id, video_id, index, token, data)
        self.tokens.setdefault((owner_id, video_id), {})[index] = token
        return token

    async def list_chunks(self, owner_id: str, video_id: str, from_index: int, limit: int) -> list[RecordedChunk]:
        known = self.tokens.get((owner_id, video_id), {})
        return [RecordedChunk(i, known[i]) for i in sorted(known) if i >= from_index][:limit]
