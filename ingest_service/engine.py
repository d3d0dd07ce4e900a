"""The upload engine: ordering, idempotency and completion rules for chunked uploads.

Both client paths (the client-streaming Upload RPC and unary PutChunk calls) go through here.
Invariants:
- a chunk is acknowledged only after its checksum matched, its bytes are durable (fsynced) and
  the catalog recorded them;
- an acknowledged chunk is never replaced: the same bytes again is a no-op, different bytes is
  ALREADY_EXISTS and the stored chunk stays;
- **an acknowledged chunk is never lost.** Every write of a chunk gets a file of its own (named by
  index and a fresh write token), and the catalog records which write is the chunk. The one rule
  for removing a chunk file, enforced in `discard_unrecorded` and nowhere else: a request removes
  only files it wrote itself, and only when the catalog told it that it did not record them (the
  request was refused, or its write was a duplicate of one recorded before). Since no other
  request can have recorded a file it did not write, no interleaving of retries, replicas and
  refusals removes bytes someone acknowledged. Whole videos lose their files only when aborted,
  deleted or expired, and chunk files after the video is READY (its source holds them);
- the upload completes once (the catalog's conditional update picks one winner, even across
  ingest replicas) and only then is it handed to the media service.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import logging
import time

from collections.abc import AsyncIterator, Mapping

import google_crc32c

from ingest_service.ports import CatalogPort, ChunkStore, MediaPort, PendingChunk, RecordedChunks, UploadState
from ingest_service.settings import UploadLimits
from recorder_common.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Reason,
    ResourceExhausted,
    Unavailable,
)
from recorder_common import metrics
from recorder_common.ids import check_video_id
from recorder_common.storage import new_write_token
from recorder_common.vocab import ChunkOutcome, RenditionKind, VideoStatus

log = logging.getLogger("recorder.ingest.engine")

__all__ = ["ByteBudget", "ChunkAck", "ChunkStream", "ChunkWriter", "IncomingChunk", "PendingChunk", "UploadEngine"]


@dataclasses.dataclass(frozen=True)
class IncomingChunk:
    index: int
    data: bytes
    is_last: bool = False
    crc32c: int | None = None
    sha256: bytes | None = None


# Answers after which the catalog has certainly not recorded a request's chunks (it records a
# request whole or not at all). Anything else (a timeout, the catalog unreachable) may have been
# recorded, so the files stay; an abandoned upload's files go with it when it expires.
REFUSALS = (ResourceExhausted, FailedPrecondition, AlreadyExists, NotFound, InvalidArgument)


@dataclasses.dataclass(frozen=True)
class ChunkAck:
    index: int
    outcome: ChunkOutcome
    state: UploadState


def crc32c_of(data: bytes) -> int:
    value: int = google_crc32c.value(data)
    return value


class ByteBudget:
    """Bytes held at once by this process's chunk writes; a holder waits until its bytes fit.
    One chunk larger than the whole budget still goes through (alone), so nothing waits forever."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._changed = asyncio.Condition()

    async def acquire(self, size: int) -> int:
        """Returns what was taken, to give back with release()."""
        size = min(size, self.limit)
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + size <= self.limit)
            self.used += size
        return size

    async def release(self, taken: int) -> None:
        async with self._changed:
            self.used -= taken
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        taken = await self.acquire(size)
        try:
            yield
        finally:
            await self.release(taken)


class ChunkWriter:
    """The one chunk path both client paths share (PutChunk calls and Upload streams): check a
    chunk, hold its bytes within the process's budget, write them to a file of their own, record
    them in the catalog, remove the files the catalog did not record, and hand a completed upload
    to media. Also remembers the catalog's last answer per upload, so back-to-back chunks skip a
    round trip."""

    def __init__(self, store: ChunkStore, catalog: CatalogPort, media: MediaPort, limits: UploadLimits) -> None:
        self.store = store
        self.catalog = catalog
        self.media = media
        self.limits = limits
        self.inflight = ByteBudget(limits.max_inflight_bytes)
        self._hints: set[asyncio.Task[None]] = set()
        # (owner, video) -> (when, state) from this writer's last catalog answer about that upload:
        # lets back-to-back PutChunk calls skip the pre-check round trip. The catalog still checks
        # everything when it records the chunk; this only decides whether to write the bytes first.
        self._recent: collections.OrderedDict[tuple[str, str], tuple[float, UploadState]] = collections.OrderedDict()
        # video id -> until when hints for it are skipped (see HINT_BACKOFF_SECONDS)
        self._unhinted: collections.OrderedDict[str, float] = collections.OrderedDict()

    def check(self, chunk: IncomingChunk) -> int:
        """Refuse a malformed or oversized chunk before any byte is written; returns its CRC32C."""
        if chunk.index < 0:
            raise InvalidArgument(f"chunk index must be 0 or more, got {chunk.index}")
        if not chunk.data and not chunk.is_last:
            raise InvalidArgument(f"chunk {chunk.index} is empty: only the last chunk may be empty")
        if chunk.index >= self.limits.max_chunks:
            raise ResourceExhausted(
                f"chunk index {chunk.index} is over the limit of {self.limits.max_chunks} chunks per upload",
                Reason.TOO_MANY_CHUNKS,
            )
        if len(chunk.data) > self.limits.max_chunk_bytes:
            raise ResourceExhausted(
                f"chunk {chunk.index} is {len(chunk.data)} bytes; the limit is "
                f"{self.limits.max_chunk_bytes} bytes: send smaller chunks",
                Reason.CHUNK_TOO_LARGE,
            )
        if chunk.crc32c is None and chunk.sha256 is None:
            raise InvalidArgument(f"chunk {chunk.index} has no checksum: send crc32c (or sha256) of its bytes")
        crc = crc32c_of(chunk.data)
        if chunk.crc32c is not None and chunk.crc32c != crc:
            raise InvalidArgument(
                f"chunk {chunk.index} failed its CRC32C check (sent {chunk.crc32c:#010x}, "
                f"received bytes give {crc:#010x}); it was not stored: resend it",
                Reason.CHECKSUM_MISMATCH,
            )
        if chunk.sha256 is not None and hashlib.sha256(chunk.data).digest() != chunk.sha256:
            raise InvalidArgument(
                f"chunk {chunk.index} failed its SHA-256 check; it was not stored: resend it", Reason.CHECKSUM_MISMATCH
            )
        return crc

    async def put(self, owner_id: str, video_id: str, chunk: IncomingChunk) -> ChunkAck:
        """One chunk on its own (PutChunk): checked, written, recorded, acknowledged."""
        check_video_id(video_id)
        crc = self.check(chunk)
        async with self.inflight.hold(len(chunk.data)):
            # NOT_FOUND if not the caller's, before any byte is written. Summary only: this runs
            # for every chunk (unless this writer heard about the upload a moment ago).
            state = self.recent_state(owner_id, video_id) or await self.catalog.upload_state(
                owner_id, video_id, summary_only=True
            )
            writable = state.status == VideoStatus.UPLOADING and not (
                state.last_index is not None and chunk.index > state.last_index
            )
            token = None
            if writable:
                if state.received_bytes + len(chunk.data) > self.limits.max_upload_bytes:
                    raise ResourceExhausted(
                        f"chunk {chunk.index} would take the upload over its limit of "
                        f"{self.limits.max_upload_bytes} bytes",
                        Reason.UPLOAD_TOO_LARGE,
                    )
                token = await self.write(owner_id, video_id, chunk)
            # When not writable the catalog answers: a duplicate of a stored chunk succeeds,
            # anything else is refused with the reason (upload finished, index past the last chunk).
            record = await self.record(
                owner_id, video_id, [PendingChunk(chunk.index, len(chunk.data), crc, chunk.is_last, token)]
            )
        return ChunkAck(index=chunk.index, outcome=record.outcomes[0], state=record.state)

    async def write(self, owner_id: str, video_id: str, chunk: IncomingChunk) -> str:
        """Store this request's copy of the chunk in a file of its own; returns its write token.
        Nothing is decided here: the catalog says whether this write becomes the chunk."""
        token = new_write_token()
        try:
            with metrics.CHUNK_WRITE_SECONDS.time():  # the store fsyncs before it returns
                await self.store.write_chunk(owner_id, video_id, chunk.index, token, chunk.data)
        except FileNotFoundError:
            # The video's folder went while the bytes were written: it was aborted or deleted
            # just now (NOT_FOUND), or the storage is failing (retry).
            self.forget(owner_id, video_id)
            await self.catalog.upload_state(owner_id, video_id, summary_only=True)
            raise Unavailable(f"chunk {chunk.index} could not be stored just now; send it again") from None
        except Exception as exc:  # the store failed (disk, object store, network): nothing was acknowledged
            log.warning("storing chunk %d of %s failed: %s", chunk.index, video_id, exc)
            raise Unavailable(f"chunk {chunk.index} could not be stored just now; send it again") from None
        return token

    async def discard_unrecorded(self, owner_id: str, video_id: str, chunks: list[PendingChunk]) -> None:
        """The one place chunk files of a live upload are removed: files this request wrote that
        the catalog has just said it did not record (see the module docstring)."""
        for c in chunks:
            if c.file_token is not None:
                await self.store.remove_chunk(owner_id, video_id, c.index, c.file_token)

    async def record(self, owner_id: str, video_id: str, chunks: list[PendingChunk]) -> RecordedChunks:
        """Record written chunks in the catalog in one transaction; hand the upload to media when
        they complete it. Refused, the request's own files go, so refused bytes neither count nor
        linger; a duplicate's file goes too (another write is the chunk)."""
        try:
            with metrics.CHUNK_RECORD_SECONDS.time():
                record = await self.catalog.record_chunks(
                    owner_id, video_id, chunks, self.limits.max_upload_bytes, self.limits.user_quota_bytes
                )
        except REFUSALS:
            self.forget(owner_id, video_id)
            await self.discard_unrecorded(owner_id, video_id, chunks)
            raise
        self.remember(owner_id, video_id, record.state)
        stored = [c for c, o in zip(chunks, record.outcomes) if o == ChunkOutcome.STORED]
        metrics.count_stored([c.size for c in stored])
        await self.discard_unrecorded(
            owner_id, video_id, [c for c, outcome in zip(chunks, record.outcomes) if outcome == ChunkOutcome.DUPLICATE]
        )
        if record.completed_upload:
            metrics.UPLOADS_COMPLETED.inc()
            await self.hand_off(owner_id, video_id)
        elif stored:
            files = {c.index: c.file_token for c in stored if c.file_token is not None}
            self._hint_chunk_stored(owner_id, video_id, max(c.index for c in stored), files)
        return record

    RECENT_SECONDS = 2.0

    def recent_state(self, owner_id: str, video_id: str) -> UploadState | None:
        entry = self._recent.get((owner_id, video_id))
        if entry is None or time.monotonic() - entry[0] > self.RECENT_SECONDS:
            return None
        return entry[1]

    def remember(self, owner_id: str, video_id: str, state: UploadState) -> None:
        key = (owner_id, video_id)
        self._recent[key] = (time.monotonic(), state)
        self._recent.move_to_end(key)
        while len(self._recent) > 10_000:
            self._recent.popitem(last=False)

    def forget(self, owner_id: str, video_id: str) -> None:
        self._recent.pop((owner_id, video_id), None)

    # An upload media declined to follow live (its live slots are taken, the format cannot be
    # followed) or could not be told about gets no hints for this long: each hint is an RPC,
    # and a declined upload still goes to the batch path when it is complete.
    HINT_BACKOFF_SECONDS = 5.0

    def _hint_chunk_stored(
        self, owner_id: str, video_id: str, index: int, files: Mapping[int, str] | None = None
    ) -> None:
        """Let media process the upload as it arrives. In the background: the client's ack never
        waits for it, and a lost hint only means the batch path does the work later. `files`: the
        recorded write token of each chunk stored, so media reads them without asking the catalog."""
        quiet_until = self._unhinted.get(video_id)
        if quiet_until is not None and time.monotonic() < quiet_until:
            return

        async def send() -> None:
            try:
                live = await self.media.chunk_stored(owner_id, video_id, index, files or {})
            except DomainError as exc:
                live = False
                log.debug("live hint for %s/%d not delivered: %s", video_id, index, exc.message)
            if live:
                self._unhinted.pop(video_id, None)
            else:
                self._unhinted[video_id] = time.monotonic() + self.HINT_BACKOFF_SECONDS
                self._unhinted.move_to_end(video_id)
                while len(self._unhinted) > 10_000:
                    self._unhinted.popitem(last=False)

        task = asyncio.create_task(send())
        self._hints.add(task)
        task.add_done_callback(self._hints.discard)

    async def hand_off(self, owner_id: str, video_id: str) -> None:
        try:
            await self.media.process(owner_id, video_id)
        except DomainError as exc:
            # The upload is complete and recorded; the media service's sweep of pending work
            # picks it up when it is back. The client's chunk was stored, so its ack stands.
            log.warning("media hand-off of %s failed, left for the media sweep: %s", video_id, exc.message)

    async def close(self) -> None:
        for task in list(self._hints):
            task.cancel()
        await asyncio.gather(*self._hints, return_exceptions=True)


class UploadEngine:
    """The upload's lifecycle around the chunk path: create, state, abort, delete, retry."""

    def __init__(self, store: ChunkStore, catalog: CatalogPort, media: MediaPort, limits: UploadLimits) -> None:
        self.store = store
        self.catalog = catalog
        self.limits = limits
        self.chunks = ChunkWriter(store, catalog, media, limits)

    async def create_upload(
        self, owner_id: str, title: str, filename: str, content_type: str, expected_size: int
    ) -> str:
        if expected_size > self.limits.max_upload_bytes:
            raise ResourceExhausted(
                f"expected size {expected_size} bytes is over the upload limit of {self.limits.max_upload_bytes} bytes",
                Reason.UPLOAD_TOO_LARGE,
            )
        video_id = await self.catalog.create_video(owner_id, title, filename, content_type, expected_size)
        metrics.UPLOADS_STARTED.inc()
        # A new upload's state is known: its first chunk need not ask the catalog for it.
        self.chunks.remember(owner_id, video_id, UploadState(video_id=video_id, status=VideoStatus.UPLOADING))
        return video_id

    async def upload_state(self, owner_id: str, video_id: str) -> UploadState:
        return await self.catalog.upload_state(owner_id, check_video_id(video_id))

    async def put_chunk(self, owner_id: str, video_id: str, chunk: IncomingChunk) -> ChunkAck:
        return await self.chunks.put(owner_id, video_id, chunk)

    async def open_stream(self, owner_id: str, video_id: str) -> ChunkStream:
        check_video_id(video_id)
        state = await self.catalog.upload_state(owner_id, video_id, summary_only=True)  # NOT_FOUND if not mine
        # A finished upload takes no bytes; the catalog still answers resent chunks (DUPLICATE).
        return ChunkStream(self.chunks, owner_id, video_id, writable=state.status == VideoStatus.UPLOADING)

    async def abort_upload(self, owner_id: str, video_id: str) -> None:
        self.chunks.forget(owner_id, video_id)
        await self.catalog.mark_deleted(owner_id, check_video_id(video_id), abort_only=True)
        metrics.UPLOADS_ABORTED.inc()
        await self.store.remove_video(owner_id, video_id)

    async def delete_video(self, owner_id: str, video_id: str) -> None:
        """Tombstone first (the video vanishes for its owner and processing stops), then remove the
        files. The rows go when the janitor purges the tombstone after a grace period, after
        removing the files once more in case a worker was still finishing a write."""
        self.chunks.forget(owner_id, video_id)
        await self.catalog.mark_deleted(owner_id, check_video_id(video_id), abort_only=False)
        await self.store.remove_video(owner_id, video_id)

    async def retry_processing(
        self, owner_id: str, video_id: str, rendition: RenditionKind | None = None
    ) -> VideoStatus | None:
        """rendition None: the FAILED video; otherwise only that FAILED rendition, which goes back
        to the media services' rendition queue (no hand-off needed)."""
        status = await self.catalog.retry_processing(owner_id, check_video_id(video_id), rendition)
        if rendition is None:
            await self.chunks.hand_off(owner_id, video_id)
        return status

    async def close(self) -> None:
        await self.chunks.close()


class ChunkStream:
    """The chunks of one client stream. Receiving, checking and writing overlap (up to WINDOW
    chunks at once, so memory stays bounded), and the catalog records them BATCH at a time in one
    transaction instead of one round trip each. The stream's single response comes after
    finish(), so every chunk is durable and recorded before the client hears anything."""

    WINDOW = 8
    BATCH = 32
    # Written chunks wait at most this long to be recorded, so the upload state others see (a
    # resuming client, the live processing) stays current when chunks come slowly.
    LINGER_SECONDS = 0.05

    def __init__(self, writer: ChunkWriter, owner_id: str, video_id: str, writable: bool) -> None:
        self.writer, self.owner_id, self.video_id = writer, owner_id, video_id
        self.writable = writable
        self.duplicates = 0
        self._slots = asyncio.Semaphore(self.WINDOW)
        self._writes: set[asyncio.Task[None]] = set()
        self._pending: list[PendingChunk] = []
        self._flushing = asyncio.Lock()
        self._error: DomainError | None = None
        self._lingering: asyncio.Task[None] | None = None

    async def add(self, chunk: IncomingChunk) -> None:
        self._raise_if_failed()
        crc = self.writer.check(chunk)
        await self._slots.acquire()
        # Until this chunk's bytes fit in the process's budget the stream reads no more.
        try:
            held = await self.writer.inflight.acquire(len(chunk.data))
        except BaseException:
            self._slots.release()
            raise
        task = asyncio.create_task(self._write(chunk, crc, held))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, chunk: IncomingChunk, crc: int, held: int) -> None:
        try:
            try:
                token = await self.writer.write(self.owner_id, self.video_id, chunk) if self.writable else None
            finally:
                await self.writer.inflight.release(held)
            self._pending.append(PendingChunk(chunk.index, len(chunk.data), crc, chunk.is_last, token))
            if len(self._pending) >= self.BATCH:
                await self._flush()
            elif self._lingering is None or self._lingering.done():
                self._lingering = asyncio.create_task(self._flush_soon())
        except DomainError as exc:
            self._error = self._error or exc
        finally:
            self._slots.release()

    async def _flush(self) -> None:
        async with self._flushing:
            batch = sorted(self._pending, key=lambda c: c.index)  # the last chunk goes last
            self._pending = []
            if not batch:
                return
            if self._error is not None:
                # Written after the stream failed: never recorded, so they are this stream's alone.
                await self.writer.discard_unrecorded(self.owner_id, self.video_id, batch)
                return
            try:
                record = await self.writer.record(self.owner_id, self.video_id, batch)
            except DomainError as exc:
                self._error = self._error or exc
                return
            self.duplicates += sum(o == ChunkOutcome.DUPLICATE for o in record.outcomes)

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.LINGER_SECONDS)
        await self._flush()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    async def finish(self) -> int:
        """Wait for every write, record what is left; returns how many chunks were duplicates."""
        await asyncio.gather(*list(self._writes))
        await self._flush()
        if self._lingering is not None:
            await self._lingering
        self._raise_if_failed()
        return self.duplicates

    async def close(self) -> None:
        """The stream ended badly: still record what was written, so a resume skips it."""
        await asyncio.gather(*list(self._writes), return_exceptions=True)
        try:
            await self._flush()
            if self._lingering is not None:
                await self._lingering
        except DomainError as exc:
            log.info("could not record the chunks of a broken stream for %s: %s", self.video_id, exc.message)
