"""The upload engine: ordering, idempotency and completion rules for chunked uploads.

Both client paths (the client-streaming Upload RPC and unary PutChunk calls) go through here.
Invariants:
- a chunk is acknowledged only after its checksum matched and its bytes are durable (fsynced);
- an acknowledged chunk is never replaced: the same bytes again is a no-op, different bytes is
  ALREADY_EXISTS and the stored chunk stays;
- the upload completes once (the catalog's conditional update picks one winner, even across
  ingest replicas) and only then is it handed to the media service.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging

import google_crc32c

from ingest_service.ports import CatalogPort, ChunkStore, MediaPort
from ingest_service.settings import UploadLimits
from recorder.v1 import common_pb2
from recorder_common.errors import (AlreadyExists, DomainError, FailedPrecondition, InvalidArgument,
                                    ResourceExhausted)
from recorder_common.ids import check_video_id
from recorder_common.storage import ChunkWrite

log = logging.getLogger("recorder.ingest.engine")

UPLOADING = common_pb2.VIDEO_STATUS_UPLOADING


@dataclasses.dataclass(frozen=True)
class IncomingChunk:
    index: int
    data: bytes
    is_last: bool = False
    crc32c: int | None = None
    sha256: bytes | None = None


@dataclasses.dataclass(frozen=True)
class ChunkAck:
    index: int
    outcome: int  # common_pb2.ChunkOutcome
    state: common_pb2.UploadState


def crc32c_of(data: bytes) -> int:
    return google_crc32c.value(data)


class UploadEngine:
    def __init__(self, store: ChunkStore, catalog: CatalogPort, media: MediaPort,
                 limits: UploadLimits) -> None:
        self.store = store
        self.catalog = catalog
        self.media = media
        self.limits = limits

    async def create_upload(self, owner_id: str, title: str, filename: str, content_type: str,
                            expected_size: int) -> str:
        if expected_size > self.limits.max_upload_bytes:
            raise ResourceExhausted(
                f"expected size {expected_size} bytes is over the upload limit of "
                f"{self.limits.max_upload_bytes} bytes")
        return await self.catalog.create_video(owner_id, title, filename, content_type, expected_size)

    async def upload_state(self, owner_id: str, video_id: str) -> common_pb2.UploadState:
        return await self.catalog.upload_state(owner_id, check_video_id(video_id))

    def _check_chunk(self, chunk: IncomingChunk) -> int:
        if chunk.index < 0:
            raise InvalidArgument(f"chunk index must be 0 or more, got {chunk.index}")
        if chunk.index >= self.limits.max_chunks:
            raise ResourceExhausted(
                f"chunk index {chunk.index} is over the limit of {self.limits.max_chunks} chunks per upload")
        if len(chunk.data) > self.limits.max_chunk_bytes:
            raise ResourceExhausted(
                f"chunk {chunk.index} is {len(chunk.data)} bytes; the limit is "
                f"{self.limits.max_chunk_bytes} bytes: send smaller chunks")
        if chunk.crc32c is None and chunk.sha256 is None:
            raise InvalidArgument(
                f"chunk {chunk.index} has no checksum: send crc32c (or sha256) of its bytes")
        crc = crc32c_of(chunk.data)
        if chunk.crc32c is not None and chunk.crc32c != crc:
            raise InvalidArgument(
                f"chunk {chunk.index} failed its CRC32C check (sent {chunk.crc32c:#010x}, "
                f"received bytes give {crc:#010x}); it was not stored: resend it")
        if chunk.sha256 is not None and hashlib.sha256(chunk.data).digest() != chunk.sha256:
            raise InvalidArgument(
                f"chunk {chunk.index} failed its SHA-256 check; it was not stored: resend it")
        return crc

    async def put_chunk(self, owner_id: str, video_id: str, chunk: IncomingChunk) -> ChunkAck:
        check_video_id(video_id)
        crc = self._check_chunk(chunk)
        # NOT_FOUND if not the caller's. Summary only: this runs for every chunk.
        state = await self.catalog.upload_state(owner_id, video_id, summary_only=True)
        writable = state.status == UPLOADING and not (
            state.HasField("last_index") and chunk.index > state.last_index)
        if writable:
            if state.received_bytes + len(chunk.data) > self.limits.max_upload_bytes:
                raise ResourceExhausted(
                    f"chunk {chunk.index} would take the upload over its limit of "
                    f"{self.limits.max_upload_bytes} bytes")
            written = await self.store.write_chunk(owner_id, video_id, chunk.index, chunk.data)
            if written is ChunkWrite.CONFLICT:
                raise AlreadyExists(
                    f"chunk {chunk.index} of video {video_id} is already stored with different content; "
                    "the stored chunk is kept")
        else:
            written = None
        # When not writable the catalog answers: a duplicate of a stored chunk succeeds, anything
        # else is refused with the reason (upload finished, index past the last chunk).
        try:
            record = await self.catalog.record_chunk(
                owner_id, video_id, chunk.index, len(chunk.data), crc, chunk.is_last,
                self.limits.max_upload_bytes, self.limits.user_quota_bytes)
        except (ResourceExhausted, FailedPrecondition):
            if written is ChunkWrite.CREATED:
                # Refused by a limit or a concurrent change: take back the file this call made,
                # so refused bytes neither count nor linger. Earlier chunks are untouched.
                await self.store.remove_chunk(owner_id, video_id, chunk.index)
            raise
        if record.completed_upload:
            await self._hand_off(owner_id, video_id)
        return ChunkAck(index=chunk.index, outcome=record.outcome, state=record.state)

    async def abort_upload(self, owner_id: str, video_id: str) -> None:
        await self.catalog.mark_deleted(owner_id, check_video_id(video_id), abort_only=True)
        await self.store.remove_video(owner_id, video_id)

    async def delete_video(self, owner_id: str, video_id: str) -> None:
        """Tombstone first (the video vanishes for its owner and processing stops), then remove the
        files. The rows go when the janitor purges the tombstone after a grace period, after
        removing the files once more in case a worker was still finishing a write."""
        await self.catalog.mark_deleted(owner_id, check_video_id(video_id), abort_only=False)
        await self.store.remove_video(owner_id, video_id)

    async def retry_processing(self, owner_id: str, video_id: str) -> int:
        video = await self.catalog.retry_processing(owner_id, check_video_id(video_id))
        await self._hand_off(owner_id, video_id)
        return video.status

    async def _hand_off(self, owner_id: str, video_id: str) -> None:
        try:
            await self.media.process(owner_id, video_id)
        except DomainError as exc:
            # The upload is complete and recorded; the media service's sweep of pending work
            # picks it up when it is back. The client's chunk was stored, so its ack stands.
            log.warning("media hand-off of %s failed, left for the media sweep: %s", video_id, exc.message)
