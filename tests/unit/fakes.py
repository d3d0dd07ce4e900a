"""In-memory stand-ins for the upload engine's ports (ingest_service/ports.py), for the unit
tests: no servers, no database, no disk. The fake catalog applies the real chunk rules
(catalog_service.chunk_rules), so what it accepts and refuses is what the catalog decides."""

from __future__ import annotations

import dataclasses
import itertools
import pathlib
from collections.abc import Mapping

from catalog_service.chunk_rules import StoredChunk, UploadTally, apply_chunks
from ingest_service.ports import PendingChunk, RecordedChunks, UploadState
from recorder_common.errors import NotFound
from recorder_common.ids import new_video_id
from recorder_common.storage import ObjectStat, keys
from recorder_common.vocab import VideoRef, VideoStatus


class FakeStore:
    """Chunk files by (owner, video, index, token)."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str, int, str], bytes] = {}

    def chunk_files(self, owner_id: str, video_id: str) -> dict[tuple[int, str], bytes]:
        return {(i, t): data for (o, v, i, t), data in self.files.items() if (o, v) == (owner_id, video_id)}

    async def write_chunk(self, user_id: str, video_id: str, index: int, token: str, data: bytes) -> None:
        self.files[(user_id, video_id, index, token)] = data

    async def remove_chunk(self, user_id: str, video_id: str, index: int, token: str) -> None:
        self.files.pop((user_id, video_id, index, token), None)

    async def remove_video(self, user_id: str, video_id: str) -> None:
        for key in [k for k in self.files if k[:2] == (user_id, video_id)]:
            del self.files[key]

    async def remove_chunks(self, user_id: str, video_id: str) -> None:
        await self.remove_video(user_id, video_id)


class MemoryStore:
    """A Store (recorder_common.storage.contract) with Transfers, in a dict: keys are built and
    checked as the real backends build them, and it keeps the same contract
    (tests/storage_contract.py), so the media service's scratch workspaces run on it."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, int]] = {}  # key -> (bytes, version)
        self._versions = itertools.count(1)

    def _put(self, key: str, data: bytes) -> None:
        self.objects[key] = (bytes(data), next(self._versions))

    def _get(self, key: str) -> bytes:
        try:
            return self.objects[key][0]
        except KeyError:
            raise FileNotFoundError(key) from None

    def _remove_prefix(self, prefix: str) -> None:
        for key in [k for k in self.objects if k.startswith(prefix)]:
            del self.objects[key]

    def media_key(self, user_id: str, video_id: str, file_name: str) -> str:
        return keys.media_key(user_id, video_id, file_name)

    def check_key(self, user_id: str, key: str) -> str:
        return keys.check_key(user_id, key)

    async def write_chunk(self, user_id: str, video_id: str, index: int, token: str, data: bytes) -> None:
        key = keys.chunk_key(user_id, video_id, index, token)
        if key in self.objects:  # create-only, as link() and If-None-Match are
            raise FileExistsError(key)
        self._put(key, data)

    async def read_chunk(self, user_id: str, video_id: str, index: int, token: str | None) -> bytes:
        return self._get(keys.chunk_key(user_id, video_id, index, token))

    async def read_chunk_size(self, user_id: str, video_id: str, index: int, token: str | None) -> int:
        return len(self._get(keys.chunk_key(user_id, video_id, index, token)))

    async def remove_chunk(self, user_id: str, video_id: str, index: int, token: str) -> None:
        self.objects.pop(keys.chunk_key(user_id, video_id, index, token), None)

    async def remove_chunks(self, user_id: str, video_id: str) -> None:
        self._remove_prefix(keys.video_prefix(user_id, video_id) + "chunks/")

    async def remove_video(self, user_id: str, video_id: str) -> None:
        self._remove_prefix(keys.video_prefix(user_id, video_id))

    async def stat(self, key: str) -> ObjectStat:
        data = self._get(key)
        return ObjectStat(len(data), f'"{self.objects[key][1]:x}"')

    async def read(self, key: str) -> bytes:
        return self._get(key)

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        return self._get(key)[start : start + max(length, 0)]

    async def remove_key(self, key: str) -> None:
        self.objects.pop(key, None)

    async def upload(self, path: pathlib.Path, key: str) -> None:
        self._put(key, path.read_bytes())

    async def download(self, key: str, path: pathlib.Path) -> None:
        data = self._get(key)
        tmp = path.with_name(f".{path.name}.download.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)


@dataclasses.dataclass
class FakeVideo:
    owner_id: str
    tally: UploadTally


class FakeCatalog:
    def __init__(self) -> None:
        self.videos: dict[str, FakeVideo] = {}
        self.record_calls: list[list[PendingChunk]] = []

    def _video(self, owner_id: str, video_id: str) -> FakeVideo:
        video = self.videos.get(video_id)
        if video is None or video.owner_id != owner_id:
            raise NotFound(f"video {video_id} not found")
        return video

    def set_status(self, video_id: str, status: VideoStatus) -> None:
        self.videos[video_id].tally.status = status

    async def create_video(
        self, owner_id: str, title: str, filename: str, content_type: str, expected_size: int
    ) -> str:
        video_id = new_video_id()
        self.videos[video_id] = FakeVideo(owner_id, UploadTally(video_id, VideoStatus.UPLOADING, None, 0, 0, None, {}))
        return video_id

    def _state(self, tally: UploadTally) -> UploadState:
        return dataclasses.replace(tally.state(), stored_indices=sorted(tally.known))

    async def upload_state(self, owner_id: str, video_id: str, summary_only: bool = False) -> UploadState:
        return self._state(self._video(owner_id, video_id).tally)

    async def record_chunks(
        self, owner_id: str, video_id: str, chunks: list[PendingChunk], max_upload_bytes: int, user_quota_bytes: int
    ) -> RecordedChunks:
        self.record_calls.append(list(chunks))
        video = self._video(owner_id, video_id)
        used = sum(v.tally.received_bytes for v in self.videos.values() if v.owner_id == owner_id)
        trial = video.tally.copy()  # all of a request or none of it, as the catalog's transaction
        applied = apply_chunks(
            trial,
            [StoredChunk(c.index, c.size, c.crc32c, c.is_last, c.file_token) for c in chunks],
            max_upload_bytes,
            user_quota_bytes,
            used,
        )
        video.tally = trial
        return RecordedChunks(applied.outcomes, self._state(trial), applied.completed_upload)

    async def mark_deleted(self, owner_id: str, video_id: str, abort_only: bool) -> None:
        self.set_status(self._video(owner_id, video_id).tally.video_id, VideoStatus.DELETED)

    async def purge(self, owner_id: str, video_id: str) -> None:
        self.videos.pop(video_id, None)

    async def retry_processing(self, owner_id: str, video_id: str, rendition: object = None) -> VideoStatus | None:
        self.set_status(self._video(owner_id, video_id).tally.video_id, VideoStatus.UPLOADED)
        return VideoStatus.UPLOADED

    async def expire_stale(self, idle_seconds: int, limit: int) -> list[VideoRef]:
        return []

    async def list_deleted(self, older_than_seconds: int, limit: int) -> list[VideoRef]:
        return [VideoRef(v.owner_id, vid) for vid, v in self.videos.items() if v.tally.status == VideoStatus.DELETED]

    async def list_ready_with_chunks(self, older_than_seconds: int, limit: int) -> list[VideoRef]:
        return []

    async def forget_chunks(self, owner_id: str, video_id: str) -> int:
        return 0

    async def fail_exhausted_jobs(self, limit: int) -> list[VideoRef]:
        return []


class FakeMedia:
    def __init__(self) -> None:
        self.processed: list[VideoRef] = []
        self.hints: list[tuple[str, int]] = []
        self.hinted_files: dict[int, str] = {}  # index -> write token, as the hints named them

    async def process(self, owner_id: str, video_id: str) -> None:
        self.processed.append(VideoRef(owner_id, video_id))

    async def chunk_stored(
        self, owner_id: str, video_id: str, index: int, files: Mapping[int, str] | None = None
    ) -> bool:
        self.hints.append((video_id, index))
        self.hinted_files.update(files or {})
        return False
