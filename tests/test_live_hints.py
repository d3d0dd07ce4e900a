"""Which chunks ingest tells media about (UploadEngine's hint policy): pure logic, a fake media port."""

from __future__ import annotations

import asyncio

from ingest_service.engine import ChunkWriter
from ingest_service.settings import UploadLimits
from recorder_common.errors import Unavailable


class RecordingMedia:
    def __init__(self, answers):
        self.answers = answers  # video id -> live? (or an exception to raise)
        self.hints: list[tuple[str, int]] = []

    async def chunk_stored(self, owner_id: str, video_id: str, index: int, files=None) -> bool:
        self.hints.append((video_id, index))
        answer = self.answers[video_id]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def process(self, owner_id: str, video_id: str) -> None:
        pass


async def hint_chunks(writer: ChunkWriter, video_id: str, count: int) -> None:
    for index in range(count):
        writer._hint_chunk_stored("alice", video_id, index)
        await asyncio.sleep(0)  # let the hint's task run, as between two chunks
        await asyncio.gather(*writer._hints)


async def test_followed_uploads_get_every_hint_declined_ones_back_off(monkeypatch):
    media = RecordingMedia({"followed": True, "declined": False, "media-down": Unavailable("no media")})
    writer = ChunkWriter(store=None, catalog=None, media=media, limits=UploadLimits())
    for video_id in ("followed", "declined", "media-down"):
        await hint_chunks(writer, video_id, 10)
    assert [i for v, i in media.hints if v == "followed"] == list(range(10))
    # Declined (or unreachable): one hint, then quiet for HINT_BACKOFF_SECONDS.
    assert [i for v, i in media.hints if v == "declined"] == [0]
    assert [i for v, i in media.hints if v == "media-down"] == [0]
    # After the back-off an upload is offered again (a live slot may have freed up).
    monkeypatch.setattr(ChunkWriter, "HINT_BACKOFF_SECONDS", 0.0)

    class SlotFreesUp(RecordingMedia):
        async def chunk_stored(self, owner_id, video_id, index, files=None):
            await super().chunk_stored(owner_id, video_id, index, files)
            return index > 0

    media = SlotFreesUp({"later": None})
    writer = ChunkWriter(store=None, catalog=None, media=media, limits=UploadLimits())
    await hint_chunks(writer, "later", 3)
    assert media.hints == [("later", 0), ("later", 1), ("later", 2)]
