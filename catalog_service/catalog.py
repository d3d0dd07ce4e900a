"""The catalog's rules, callable without a server: videos, chunks, statuses, leases, assets.

Every method takes the owner explicitly and only ever touches that owner's rows; a video of
someone else is NOT_FOUND, never revealed. State changes that must happen once (completing an
upload, claiming a processing job) are conditional UPDATEs whose row count says who won, so they
stay correct with several ingest or media replicas on one database. Every status change goes
through the one transitions table (lifecycle.py) and writes its history row in the same
transaction. Per-owner limits (open uploads, stored bytes, processing slots) are decided under the
owner's lock row (owners.lock_owner), taken after any video row lock.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import datetime as dt
import json
import unicodedata
from collections.abc import Callable, Sequence

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload, selectinload

from catalog_service.batches import housekeeping_batch
from catalog_service.chunk_recorder import ChunkRecorder, RecordRequest
from catalog_service.chunk_rules import StoredChunk, UploadTally
from catalog_service import events
from catalog_service.lifecycle import Event, RenditionEvent, sources, transition
from catalog_service.models import Asset, Chunk, Rendition, StatusEvent, Video, as_utc, utcnow
from catalog_service.owners import bytes_in_use, charged_size, lock_owner
from catalog_service.settings import CatalogLimits

# Imported for its session listeners: every commit that changes a video tells its watchers.
from catalog_service import watch_hub  # noqa: F401
from catalog_service.statuses import DELETED, EXPIRED, FAILED, PROCESSING, READY, UPLOADED, UPLOADING
from recorder_common.errors import FailedPrecondition, InvalidArgument, NotFound, Reason, ResourceExhausted
from recorder_common.ids import check_video_id, new_video_id
from recorder_common.uploads import UploadState
from recorder_common.vocab import AssetKind, ChunkOutcome, RenditionKind, RenditionState, Step, VideoRef, VideoStatus

MAX_TITLE_CHARS = 512
MAX_FILENAME_CHARS = 255
MAX_CONTENT_TYPE_CHARS = 255
MAX_MESSAGE_CHARS = 4000  # an error or history message as stored
# What MediaRecorder writes (WebM, or MP4 in newer Chrome), Matroska, and "I don't know" (probing
# decides). The media service checks the declared type against the bytes.
ACCEPTED_MEDIA_TYPES = (
    "video/webm",
    "audio/webm",
    "video/mp4",
    "audio/mp4",
    "video/x-matroska",
    "application/octet-stream",
)
# Embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
MAX_LISTED_INDICES = 10_000
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PROCESSING_ATTEMPTS = 3
FINAL_STATUSES = (READY, FAILED, EXPIRED, DELETED)
# Every video gets these renditions, PENDING, in the transaction that creates it.
RENDITION_KINDS = (RenditionKind.COMPRESSED, RenditionKind.STORYBOARD)
# How many queued renditions one ClaimRendition tries, in fair order, before saying none.
CLAIM_CANDIDATES = 16


@dataclasses.dataclass(frozen=True)
class RenditionAsset:
    path: str
    content_type: str
    size: int


@dataclasses.dataclass(frozen=True)
class ProcessingOutput:
    """An output a processing job made, recorded with its READY (finish_processing_ready)."""

    kind: AssetKind | None
    path: str
    content_type: str
    size: int


@dataclasses.dataclass(frozen=True)
class RenditionClaim:
    claimed: bool
    owner_id: str = ""
    video_id: str = ""
    kind: RenditionKind | None = None
    video: Video | None = None


@dataclasses.dataclass(frozen=True)
class BatchRecord:
    outcomes: list[ChunkOutcome]  # one per chunk, in order
    state: UploadState
    completed_upload: bool


@dataclasses.dataclass(frozen=True)
class ChunkRecord:
    outcome: ChunkOutcome
    state: UploadState
    completed_upload: bool


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    duration_seconds: float | None = None
    width: int | None = None
    height: int | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    container: str | None = None


def _clean_text(value: str, field: str, limit: int) -> str:
    """Client text is metadata only. Reject what would corrupt displays or logs (NUL and other
    control characters), bidirectional overrides that make a name read as something else
    ("rec\u202egnp.exe"), and what is too long; keep everything else as given, right-to-left
    scripts included."""
    if len(value) > limit:
        raise InvalidArgument(f"{field} is {len(value)} characters; the limit is {limit}")
    for ch in value:
        if unicodedata.category(ch) == "Cc":
            raise InvalidArgument(f"{field} contains a control character (U+{ord(ch):04X})")
        if ch in BIDI_CONTROLS:
            raise InvalidArgument(
                f"{field} contains a bidirectional override (U+{ord(ch):04X}); plain right-to-left text is fine"
            )
    return value


def _encode_page_token(created_at: dt.datetime, video_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), video_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _owner_turn(owner_id, *oldest_first):
    """Each row's place in its owner's own queue (1 for the owner's oldest, ...): ordering by it
    makes owners take turns."""
    return func.row_number().over(partition_by=owner_id, order_by=oldest_first).label("turn")


def _stricter(limit: int, other: int) -> int:
    """The stricter of two limits where 0 means none."""
    return min(limit, other) if limit and other else limit or other


def _lease_lost(worker_id: str, video_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"worker {worker_id} no longer holds the processing lease of video {video_id}", Reason.LEASE_LOST
    )


class _ClaimRefused(Exception):
    """Rolls a claim back: the owner has no processing slot free."""


def _decode_page_token(token: str) -> tuple[dt.datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        created, video_id = json.loads(raw)
        return dt.datetime.fromisoformat(created), check_video_id(video_id)
    except Exception as exc:  # any garbage is the caller's mistake
        raise InvalidArgument("page_token is not a token returned by ListVideos") from exc


class Catalog:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Callable[[], dt.datetime] = utcnow,
        limits: CatalogLimits = CatalogLimits(),
        webhook_endpoints: Sequence = (),
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.limits = limits
        # Each feed event gets a delivery row per endpoint that wants it (catalog_service/webhooks.py).
        self.webhook_endpoints = tuple(webhook_endpoints)
        bind = sessions.kw.get("bind")
        # SQLite has one writer at a time and makes the others wait by sleeping and retrying
        # (busy_timeout), which gives latency long tails under load. Queueing this process's
        # writers on a lock keeps them in order instead. PostgreSQL needs no such thing.
        self._writers = asyncio.Lock() if bind is not None and bind.dialect.name == "sqlite" else None
        self._recorder = ChunkRecorder(self._transaction, clock)

    def transaction(self):
        """A write transaction as every catalog write makes one (queued writers on SQLite, the
        outbox written before COMMIT): for the catalog's own background work."""
        return self._transaction()

    @contextlib.asynccontextmanager
    async def _transaction(self):
        async with self._writers or contextlib.nullcontext():
            async with self.sessions() as session, session.begin():
                yield session
                # The feed events of this transaction's lifecycle changes, in the same commit.
                await events.write_outbox(session, self.webhook_endpoints)

    # ---- helpers ------------------------------------------------------------------------------
    def _event(
        self, video: Video, status: str, step: str | None = None, progress: float = 0.0, message: str = ""
    ) -> StatusEvent:
        return StatusEvent(
            video_id=video.id, status=status, step=step, progress=progress, message=message, at=self.clock()
        )

    def _move(
        self,
        session: AsyncSession,
        video: Video,
        event: Event,
        step: str | None = None,
        progress: float = 0.0,
        message: str = "",
    ) -> None:
        """Apply a lifecycle event to a row the caller holds locked, with its history row in the
        same transaction. Refused by the table: FailedPrecondition, and nothing changes."""
        target = transition(video.id, video.status, event)
        if target != video.status:  # a takeover (PROCESSING -> PROCESSING) keeps its clock
            video.status_changed_at = self.clock()
        video.status = target
        session.add(self._event(video, target, step=step, progress=progress, message=message))
        events.emit(session, video, event, self.clock())

    async def _lock_owned(self, session: AsyncSession, owner_id: str, video_id: str) -> Video:
        """Take the video's row lock for the rest of the transaction. An UPDATE as the first
        statement locks the row on PostgreSQL and takes SQLite's write lock at once, so concurrent
        callers for one video are serialised on both databases."""
        check_video_id(video_id)
        result = await session.execute(
            update(Video)
            .where(Video.id == video_id, Video.owner_id == owner_id)
            .values(updated_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise NotFound(f"video {video_id} not found")
        return await self._locked(session, video_id)

    async def _lock_present(self, session: AsyncSession, owner_id: str, video_id: str) -> Video:
        """_lock_owned for a change to a video that is still there: a deleted one is NOT_FOUND."""
        video = await self._lock_owned(session, owner_id, video_id)
        if video.status == DELETED:
            raise NotFound(f"video {video_id} not found")
        return video

    async def _load(self, session: AsyncSession, owner_id: str, video_id: str) -> Video:
        check_video_id(video_id)
        video = (
            (
                await session.execute(
                    select(Video)
                    .where(Video.id == video_id, Video.owner_id == owner_id)
                    # The assets and renditions in the video's own statement: one snapshot, so a
                    # rendition is never READY without its asset (statements apart, a commit between
                    # them shows the one without the other on READ COMMITTED and on SQLite).
                    .options(joinedload(Video.assets), joinedload(Video.renditions), selectinload(Video.events))
                    .execution_options(populate_existing=True)
                )
            )
            .unique()
            .scalar_one_or_none()
        )
        if video is None or video.status == DELETED:
            raise NotFound(f"video {video_id} not found")
        return video

    async def _state(self, session: AsyncSession, video: Video, with_indices: bool) -> UploadState:
        summary = UploadTally(
            video.id, video.status, video.last_index, video.received_chunks, video.received_bytes, None, {}
        ).state()
        if not with_indices:
            return summary
        stored = list(
            (
                await session.execute(select(Chunk.index).where(Chunk.video_id == video.id).order_by(Chunk.index))
            ).scalars()
        )
        upper = video.last_index if video.last_index is not None else (stored[-1] if stored else -1)
        have = set(stored)
        missing: list[int] = []
        for i in range(upper + 1):
            if i not in have:
                missing.append(i)
                if len(missing) >= MAX_LISTED_INDICES:
                    break
        return dataclasses.replace(summary, missing_indices=missing, stored_indices=stored[:MAX_LISTED_INDICES])

    # ---- uploads ------------------------------------------------------------------------------
    async def create_video(
        self, owner_id: str, title: str, filename: str, content_type: str, expected_size: int
    ) -> Video:
        title = _clean_text(title, "title", MAX_TITLE_CHARS)
        filename = _clean_text(filename, "filename", MAX_FILENAME_CHARS)
        content_type = _clean_text(content_type, "content_type", MAX_CONTENT_TYPE_CHARS)
        if content_type and content_type.split(";")[0].strip().lower() not in ACCEPTED_MEDIA_TYPES:
            raise InvalidArgument(
                f"content_type {content_type[:60]!r} is not a recording type we accept: "
                f"{', '.join(ACCEPTED_MEDIA_TYPES)} (codecs parameters allowed)"
            )
        if expected_size < 0:
            raise InvalidArgument("expected_size_bytes must be 0 (unknown) or positive")
        now = self.clock()
        video = Video(
            id=new_video_id(),
            owner_id=owner_id,
            title=title,
            filename=filename,
            content_type=content_type or "video/webm",
            status=UPLOADING,
            expected_size=expected_size or None,
            received_chunks=0,
            received_bytes=0,
            progress=0.0,
            processing_attempts=0,
            processing_retries=0,
            created_at=now,
            updated_at=now,
            status_changed_at=now,
        )
        cap = self.limits.max_open_uploads_per_user
        async with self._transaction() as session:
            await lock_owner(session, owner_id, now)  # concurrent creates count one after another
            open_uploads = (
                await session.execute(
                    select(func.count()).select_from(Video).where(Video.owner_id == owner_id, Video.status == UPLOADING)
                )
            ).scalar_one()
            if open_uploads >= cap:
                raise ResourceExhausted(
                    f"you have {open_uploads} uploads in progress (at most {cap} at once); finish or abort one",
                    Reason.TOO_MANY_OPEN_UPLOADS,
                )
            session.add(video)
            session.add(self._event(video, UPLOADING, message="upload created"))
            events.emit(session, video, None, now)
            for kind in RENDITION_KINDS:
                session.add(
                    Rendition(
                        video_id=video.id,
                        kind=kind.value,
                        owner_id=owner_id,
                        state=RenditionState.PENDING.value,
                        progress=0.0,
                        attempts=0,
                        queued_at=now,
                        updated_at=now,
                    )
                )
        return await self.get_video(owner_id, video.id)

    async def upload_state(self, owner_id: str, video_id: str, with_indices: bool = True) -> UploadState:
        async with self.sessions() as session:
            video = await self._load(session, owner_id, video_id)
            return await self._state(session, video, with_indices=with_indices)

    async def list_chunks(self, owner_id: str, video_id: str, from_index: int, limit: int) -> list[StoredChunk]:
        """The recorded chunks from from_index on, in index order, with the write token naming
        each one's file: the only files that are the upload's chunks."""
        if from_index < 0:
            raise InvalidArgument("from_index must be 0 or more")
        async with self.sessions() as session:
            video = await self._load(session, owner_id, video_id)
            rows = (
                await session.execute(
                    select(Chunk.index, Chunk.size, Chunk.crc32c, Chunk.file_token)
                    .where(Chunk.video_id == video.id, Chunk.index >= from_index)
                    .order_by(Chunk.index)
                    .limit(max(1, min(limit or 1000, MAX_LISTED_INDICES)))
                )
            ).all()
        return [
            StoredChunk(index, size, crc, is_last=index == video.last_index, file_token=token)
            for index, size, crc, token in rows
        ]

    async def record_chunk(
        self,
        owner_id: str,
        video_id: str,
        index: int,
        size: int,
        crc32c: int,
        is_last: bool,
        max_upload_bytes: int = 0,
        user_quota_bytes: int = 0,
    ) -> ChunkRecord:
        batch = await self.record_chunks(
            owner_id, video_id, [StoredChunk(index, size, crc32c, is_last)], max_upload_bytes, user_quota_bytes
        )
        return ChunkRecord(batch.outcomes[0], batch.state, batch.completed_upload)

    async def record_chunks(
        self,
        owner_id: str,
        video_id: str,
        chunks: list[StoredChunk],
        max_upload_bytes: int = 0,
        user_quota_bytes: int = 0,
    ) -> BatchRecord:
        """Record stored chunks, in the order given: all of them or, on the first refusal, none.
        Limits (0 = none) are checked under the video's row lock, so concurrent chunks of one
        upload cannot overshoot them together. Concurrent calls share a transaction (group commit)."""
        quota = _stricter(self.limits.user_quota_bytes, user_quota_bytes)
        result = await self._recorder.record(RecordRequest(owner_id, video_id, chunks, max_upload_bytes, quota))
        return BatchRecord(result.outcomes, result.tally.state(), result.completed_upload)

    async def mark_deleted(self, owner_id: str, video_id: str, abort_only: bool) -> Video:
        """Tombstone a video: from now on it is NOT_FOUND to its owner, processing of it stops at
        the next lease check, and PurgeVideo removes its rows once its files are gone."""
        async with self._transaction() as session:
            video = await self._lock_present(session, owner_id, video_id)
            self._move(
                session,
                video,
                Event.ABORT if abort_only else Event.DELETE,
                message="upload aborted" if abort_only else "deleted",
            )
            video.lease_owner = video.lease_expires_at = None
            return video

    async def purge_video(self, owner_id: str, video_id: str) -> None:
        check_video_id(video_id)
        async with self._transaction() as session:
            # Children first: SQLite only cascades when its foreign_keys pragma is on.
            purgeable = sources(Event.PURGE)
            owned = (
                select(Video.id)
                .where(Video.id == video_id, Video.owner_id == owner_id, Video.status.in_(purgeable))
                .scalar_subquery()
            )
            for model in (Chunk, Asset, StatusEvent, Rendition):
                await session.execute(delete(model).where(model.video_id == owned))
            await session.execute(
                delete(Video).where(Video.id == video_id, Video.owner_id == owner_id, Video.status.in_(purgeable))
            )

    async def expire_stale_uploads(self, idle_seconds: int, limit: int) -> list[VideoRef]:
        """Uploads with no activity for idle_seconds become EXPIRED. The clock here is activity
        (updated_at: every recorded chunk, even a resent one, moves it), not status_changed_at:
        an upload that has been UPLOADING for hours but is still receiving chunks is alive."""
        cutoff = self.clock() - dt.timedelta(seconds=idle_seconds)
        expirable = sources(Event.EXPIRE)
        expired: list[VideoRef] = []
        async with self.sessions() as session:
            candidates = (
                await session.execute(
                    select(Video.id, Video.owner_id)
                    .where(Video.status.in_(expirable), Video.updated_at < cutoff)
                    .order_by(Video.updated_at)
                    .limit(housekeeping_batch(limit))
                )
            ).all()
        for video_id, owner_id in candidates:
            async with self._transaction() as session:
                # Conditional (and the row lock): a chunk that arrived meanwhile keeps it alive.
                result = await session.execute(
                    update(Video)
                    .where(Video.id == video_id, Video.status.in_(expirable), Video.updated_at < cutoff)
                    .values(updated_at=self.clock())
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:
                    video = await self._locked(session, video_id)
                    self._move(session, video, Event.EXPIRE, message=f"no upload activity for {idle_seconds} s")
                    expired.append(VideoRef(owner_id, video_id))
        return expired

    @staticmethod
    async def _locked(session: AsyncSession, video_id: str) -> Video:
        """The row this transaction just locked, as stored now."""
        return (
            await session.execute(select(Video).where(Video.id == video_id).execution_options(populate_existing=True))
        ).scalar_one()

    async def list_deleted(self, older_than_seconds: int, limit: int) -> list[VideoRef]:
        cutoff = self.clock() - dt.timedelta(seconds=older_than_seconds)
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Video.owner_id, Video.id)
                    .where(Video.status == DELETED, Video.status_changed_at <= cutoff)
                    .order_by(Video.status_changed_at)
                    .limit(housekeeping_batch(limit))
                )
            ).all()
        return [VideoRef(*row) for row in rows]

    async def list_ready_with_chunks(self, older_than_seconds: int, limit: int) -> list[VideoRef]:
        """READY videos (for at least older_than_seconds) that still have chunk rows."""
        cutoff = self.clock() - dt.timedelta(seconds=older_than_seconds)
        # Driven from the chunks table, which holds only uploads in progress, failed ones and
        # recently READY ones: the READY videos already forgotten, which pile up, are not scanned.
        with_chunks = select(Chunk.video_id).group_by(Chunk.video_id).subquery()
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(Video.owner_id, Video.id)
                    .join(with_chunks, with_chunks.c.video_id == Video.id)
                    .where(Video.status == READY, Video.status_changed_at <= cutoff)
                    .order_by(Video.status_changed_at)
                    .limit(housekeeping_batch(limit))
                )
            ).all()
        return [VideoRef(*row) for row in rows]

    async def forget_chunks(self, owner_id: str, video_id: str) -> int:
        """Drop a READY video's chunk rows (its source holds every byte). From now on a resent
        chunk is refused (the video takes no chunks) instead of answered as a duplicate."""
        async with self._transaction() as session:
            video = await self._lock_owned(session, owner_id, video_id)
            if video.status != READY:
                raise FailedPrecondition(
                    f"video {video_id} is {video.status}; only a READY video's chunks can be forgotten",
                    Reason.STATUS_CONFLICT,
                )
            result = await session.execute(delete(Chunk).where(Chunk.video_id == video_id))
            return result.rowcount

    async def retry_processing(self, owner_id: str, video_id: str, rendition: RenditionKind | None = None) -> Video:
        """A FAILED video is processed again (its FAILED renditions with it); with a rendition
        kind, only that FAILED rendition of a READY video goes back to the queue. Both count
        against max_processing_retries."""
        if rendition is not None:
            return await self._retry_rendition(owner_id, video_id, rendition)
        async with self._transaction() as session:
            video = await self._lock_present(session, owner_id, video_id)
            transition(video_id, video.status, Event.RETRY)  # refused before the other checks
            if video.last_index is None or video.received_chunks != video.last_index + 1:
                raise FailedPrecondition(
                    f"video {video_id} never finished uploading; nothing to process", Reason.STATUS_CONFLICT
                )
            allowed = self._retry_allowance(video)
            self._move(
                session,
                video,
                Event.RETRY,
                message=f"processing retried by the owner ({video.processing_retries + 1} of {allowed})",
            )
            video.processing_attempts, video.processing_retries = 0, video.processing_retries + 1
            video.error = video.error_step = video.current_step = None
            video.progress = 0.0
            for row in await self._renditions(session, video_id):
                if row.state == RenditionState.FAILED:
                    self._move_rendition(session, video, row, RenditionEvent.RETRY)
        return await self.get_video(owner_id, video_id)

    async def _retry_rendition(self, owner_id: str, video_id: str, kind: RenditionKind) -> Video:
        async with self._transaction() as session:
            video = await self._lock_present(session, owner_id, video_id)
            if video.status != READY:
                raise FailedPrecondition(
                    f"video {video_id} is {video.status}: only a READY video's renditions "
                    "can be retried (retry the video itself if it FAILED)"
                )
            row = await self._rendition(session, video_id, kind)
            transition(video_id, row.state, RenditionEvent.RETRY, rendition=kind)
            allowed = self._retry_allowance(video)
            video.processing_retries += 1
            self._move_rendition(
                session,
                video,
                row,
                RenditionEvent.RETRY,
                message=f"retried by the owner ({video.processing_retries} of {allowed})",
            )
        return await self.get_video(owner_id, video_id)

    def _retry_allowance(self, video: Video) -> int:
        """Refuse an owner's retry once max_processing_retries are used (a video's and its
        renditions' retries count together); otherwise the allowance, for the history."""
        allowed = self.limits.max_processing_retries
        if video.processing_retries >= allowed:
            raise ResourceExhausted(
                f"processing of video {video.id} was retried {video.processing_retries} times "
                f"already (at most {allowed}); upload the recording again or delete it",
                Reason.RETRIES_EXHAUSTED,
            )
        return allowed

    # ---- renditions ---------------------------------------------------------------------------
    @staticmethod
    async def _renditions(session: AsyncSession, video_id: str) -> list[Rendition]:
        return list(
            (
                await session.execute(
                    select(Rendition)
                    .where(Rendition.video_id == video_id)
                    .order_by(Rendition.kind)
                    .execution_options(populate_existing=True)
                )
            ).scalars()
        )

    @staticmethod
    async def _rendition(session: AsyncSession, video_id: str, kind: RenditionKind) -> Rendition:
        row = (
            await session.execute(
                select(Rendition)
                .where(Rendition.video_id == video_id, Rendition.kind == kind.value)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"video {video_id} has no {kind.lower()} rendition")
        return row

    def _move_rendition(
        self, session: AsyncSession, video: Video, row: Rendition, event: RenditionEvent, message: str = ""
    ) -> None:
        """Apply a rendition event (the one transitions table) to a rendition of a video this
        transaction holds locked, with a history row; the video's status never changes here."""
        target = transition(video.id, row.state, event, rendition=row.kind)
        now = self.clock()
        if target == RenditionState.PENDING:
            row.queued_at, row.progress, row.error = now, 0.0, None
            row.lease_owner = row.lease_expires_at = None
        elif target in (RenditionState.READY, RenditionState.FAILED):
            row.lease_owner = row.lease_expires_at = None
        row.state, row.updated_at = target, now
        text = f"{row.kind.lower()} rendition {target}" + (f": {message}" if message else "")
        session.add(self._event(video, video.status, progress=row.progress, message=text[:MAX_MESSAGE_CHARS]))
        events.emit(session, video, event, now, rendition=row)

    async def claim_rendition(
        self,
        worker_id: str,
        lease_seconds: int,
        kind: RenditionKind,
        owner_id: str | None = None,
        video_id: str | None = None,
    ) -> RenditionClaim:
        """With a video: take that video's rendition (a live encode, while the recording arrives or
        until the job finishes). Without: the next queued rendition of a READY video. Owners take
        turns, and an owner with encodes running waits behind owners with fewer (the turn is the
        owner's queue position plus its running encodes), FIFO within an owner, so one user's
        backlog cannot hold every encoder. Exactly one concurrent claimant wins a rendition."""
        now = self.clock()
        if video_id is not None:
            check_video_id(video_id)
            candidates = [(video_id, owner_id or "")]
            video_ok = Video.status.in_((UPLOADING, UPLOADED, PROCESSING, READY))
        else:
            candidates = await self._queued_renditions(now, kind)
            video_ok = Video.status == READY
        lapsed = and_(
            Rendition.state == RenditionState.PROCESSING,
            Rendition.lease_expires_at < now,
            Rendition.attempts < MAX_PROCESSING_ATTEMPTS,
        )
        for candidate_video, candidate_owner in candidates:
            async with self._transaction() as session:
                eligible = (
                    select(Video.id)
                    .where(Video.id == candidate_video, Video.owner_id == candidate_owner, video_ok)
                    .scalar_subquery()
                )
                result = await session.execute(
                    update(Rendition)
                    .where(
                        Rendition.video_id == eligible,
                        Rendition.kind == kind.value,
                        Rendition.state.in_(sources(RenditionEvent.CLAIM)),
                        or_(Rendition.state == RenditionState.PENDING, lapsed),
                    )
                    .values(
                        lease_owner=worker_id,
                        lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                        attempts=Rendition.attempts + 1,
                        progress=0.0,
                        error=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != 1:
                    continue
                video = await self._locked(session, candidate_video)
                row = await self._rendition(session, candidate_video, kind)
                self._move_rendition(
                    session, video, row, RenditionEvent.CLAIM, message=f"attempt {row.attempts} by {worker_id}"
                )
            return RenditionClaim(
                True, candidate_owner, candidate_video, kind, await self.get_video(candidate_owner, candidate_video)
            )
        return RenditionClaim(False)

    async def _queued_renditions(self, now: dt.datetime, kind: RenditionKind) -> list[tuple[str, str]]:
        waiting_states = or_(
            Rendition.state == RenditionState.PENDING,
            and_(
                Rendition.state == RenditionState.PROCESSING,
                Rendition.lease_expires_at < now,
                Rendition.attempts < MAX_PROCESSING_ATTEMPTS,
            ),
        )
        running = (
            select(Rendition.owner_id, func.count().label("n"))
            .where(Rendition.state == RenditionState.PROCESSING, Rendition.lease_expires_at >= now)
            .group_by(Rendition.owner_id)
            .subquery()
        )
        turn = _owner_turn(Rendition.owner_id, Rendition.queued_at, Rendition.video_id)
        waiting = (
            select(Rendition.video_id, Rendition.owner_id, Rendition.queued_at, turn)
            .join(Video, Video.id == Rendition.video_id)
            .where(Rendition.kind == kind.value, waiting_states, Video.status == READY)
            .subquery()
        )
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(waiting.c.video_id, waiting.c.owner_id)
                    .outerjoin(running, running.c.owner_id == waiting.c.owner_id)
                    .order_by(waiting.c.turn + func.coalesce(running.c.n, 0), waiting.c.queued_at, waiting.c.video_id)
                    .limit(CLAIM_CANDIDATES)
                )
            ).all()
        return [(r[0], r[1]) for r in rows]

    async def _lock_rendition_lease(
        self, session: AsyncSession, owner_id: str, video_id: str, kind: RenditionKind, worker_id: str
    ) -> tuple[Video, Rendition]:
        video = await self._lock_present(session, owner_id, video_id)
        row = await self._rendition(session, video_id, kind)
        if row.state != RenditionState.PROCESSING or row.lease_owner != worker_id:
            raise FailedPrecondition(
                f"worker {worker_id} no longer holds the {kind.lower()} rendition lease of video {video_id}"
            )
        return video, row

    async def report_rendition_progress(
        self, owner_id: str, video_id: str, kind: RenditionKind, worker_id: str, progress: float, lease_seconds: int
    ) -> None:
        """Progress of an encode, renewing its lease."""
        progress = min(max(progress, 0.0), 1.0)
        async with self._transaction() as session:
            _, row = await self._lock_rendition_lease(session, owner_id, video_id, kind, worker_id)
            row.progress = progress
            row.lease_expires_at = self.clock() + dt.timedelta(seconds=lease_seconds)
            row.updated_at = self.clock()

    async def finish_rendition(
        self,
        owner_id: str,
        video_id: str,
        kind: RenditionKind,
        worker_id: str,
        state: RenditionState,
        asset: RenditionAsset | None = None,
        error: str = "",
    ) -> Video:
        """PROCESSING -> READY (its asset recorded and charged to the owner in the same
        transaction; over the quota: RESOURCE_EXHAUSTED and nothing changes, the caller deletes
        the file and fails the rendition), FAILED (with the error) or PENDING (given back to the
        queue). The video's status never changes."""
        async with self._transaction() as session:
            video, row = await self._lock_rendition_lease(session, owner_id, video_id, kind, worker_id)
            if state == RenditionState.READY:
                if asset is None or not asset.path:
                    raise InvalidArgument("a READY rendition needs its asset")
                await self._record_asset(
                    session, owner_id, video_id, kind.value, asset.path, asset.content_type, asset.size
                )
                row.progress = 1.0
                self._move_rendition(session, video, row, RenditionEvent.COMPLETE)
            elif state == RenditionState.FAILED:
                row.error = (error or "the encode failed")[:MAX_MESSAGE_CHARS]
                self._move_rendition(session, video, row, RenditionEvent.FAIL, message=row.error)
            elif state == RenditionState.PENDING:
                row.attempts = max(0, row.attempts - 1)  # not a failure: it was handed back on purpose
                self._move_rendition(session, video, row, RenditionEvent.GIVE_BACK, message=error)
            else:
                raise InvalidArgument("a rendition finishes as READY, FAILED or PENDING (given back)")
        return await self.get_video(owner_id, video_id)

    # ---- reads --------------------------------------------------------------------------------
    async def get_video(self, owner_id: str, video_id: str) -> Video:
        async with self.sessions() as session:
            return await self._load(session, owner_id, video_id)

    async def list_videos(self, owner_id: str, page_size: int, page_token: str) -> tuple[list[Video], str]:
        if page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        query = (
            select(Video)
            .where(Video.owner_id == owner_id, Video.status != DELETED)
            .options(joinedload(Video.assets), joinedload(Video.renditions))  # one snapshot, as in _load
            .order_by(Video.created_at.desc(), Video.id.desc())
            .limit(size + 1)
        )
        if page_token:
            created, last_id = _decode_page_token(page_token)
            query = query.where(or_(Video.created_at < created, and_(Video.created_at == created, Video.id < last_id)))
        async with self.sessions() as session:
            videos = list((await session.execute(query)).unique().scalars())
        token = ""
        if len(videos) > size:
            videos = videos[:size]
            token = _encode_page_token(videos[-1].created_at, videos[-1].id)
        return videos, token

    # ---- processing ---------------------------------------------------------------------------
    async def claim_processing(
        self, owner_id: str, video_id: str, worker_id: str, lease_seconds: int
    ) -> tuple[bool, Video]:
        """Take the processing job if it is waiting (UPLOADED) or its lease has expired (the worker
        died). Exactly one concurrent claimant wins. Refused (claimed False, the job keeps waiting)
        while the owner already has max_processing_per_user jobs under a live lease, so one
        user's backlog cannot hold every worker."""
        check_video_id(video_id)
        now = self.clock()
        claimed = False
        try:
            async with self._transaction() as session:
                result = await session.execute(
                    update(Video)
                    .where(
                        Video.id == video_id,
                        Video.owner_id == owner_id,
                        Video.processing_attempts < MAX_PROCESSING_ATTEMPTS,
                        Video.status.in_(sources(Event.CLAIM)),
                        or_(Video.status == UPLOADED, Video.lease_expires_at < now),
                    )
                    .values(
                        lease_owner=worker_id,
                        lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
                        processing_attempts=Video.processing_attempts + 1,
                        current_step=Step.ASSEMBLE,
                        progress=0.0,
                        error=None,
                        error_step=None,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:
                    video = await self._locked(session, video_id)
                    self._move(
                        session,
                        video,
                        Event.CLAIM,
                        step=Step.ASSEMBLE,
                        message=f"attempt {video.processing_attempts} by {worker_id}",
                    )
                    await lock_owner(session, owner_id, now)  # after the video's lock, as everywhere
                    busy = (
                        await session.execute(
                            select(func.count())
                            .select_from(Video)
                            .where(
                                Video.owner_id == owner_id,
                                Video.id != video_id,
                                Video.status == PROCESSING,
                                Video.lease_expires_at >= now,
                            )
                        )
                    ).scalar_one()
                    if busy >= self.limits.max_processing_per_user:
                        raise _ClaimRefused()
                    claimed = True
        except _ClaimRefused:
            claimed = False
        return claimed, await self.get_video(owner_id, video_id)

    async def _lock_leased(self, session: AsyncSession, owner_id: str, video_id: str, worker_id: str) -> Video:
        """Lock the video if `worker_id` holds its processing lease; otherwise NOT_FOUND (gone) or
        FAILED_PRECONDITION (the lease is someone else's, or processing ended)."""
        check_video_id(video_id)
        result = await session.execute(
            update(Video)
            .where(
                Video.id == video_id,
                Video.owner_id == owner_id,
                Video.status == PROCESSING,
                Video.lease_owner == worker_id,
            )
            .values(updated_at=self.clock())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            await self._load(session, owner_id, video_id)  # NOT_FOUND if it is not there
            raise _lease_lost(worker_id, video_id)
        return await self._locked(session, video_id)

    async def report_progress(
        self, owner_id: str, video_id: str, worker_id: str, step: Step | None, progress: float, lease_seconds: int
    ) -> None:
        if step not in tuple(Step):
            raise InvalidArgument("step is not a processing step this catalog knows")
        progress = min(max(progress, 0.0), 1.0)
        async with self._transaction() as session:
            video = await self._lock_owned(session, owner_id, video_id)
            if video.status != PROCESSING or video.lease_owner != worker_id:
                raise _lease_lost(worker_id, video_id)
            if video.current_step != step:
                session.add(self._event(video, PROCESSING, step=step, progress=progress))
            video.current_step, video.progress = step, progress
            video.lease_expires_at = self.clock() + dt.timedelta(seconds=lease_seconds)

    async def put_asset(
        self, owner_id: str, video_id: str, kind: AssetKind | None, path: str, content_type: str, size: int
    ) -> None:
        """Record an output, charging its bytes to the owner's quota in the same transaction
        (replacing an output of the same kind charges the difference). Over the quota:
        RESOURCE_EXHAUSTED, and nothing is recorded: the caller deletes the file."""
        if kind not in tuple(AssetKind):
            raise InvalidArgument("kind is not an asset kind this catalog knows")
        if size < 0:
            raise InvalidArgument("size_bytes must not be negative")
        async with self._transaction() as session:
            await self._lock_present(session, owner_id, video_id)
            await self._record_asset(session, owner_id, video_id, kind, path, content_type, size)

    async def _record_asset(
        self, session: AsyncSession, owner_id: str, video_id: str, kind: str, path: str, content_type: str, size: int
    ) -> None:
        """Record an output of a video this transaction holds locked, charging the owner's quota."""
        if size < 0:
            raise InvalidArgument("size_bytes must not be negative")
        existing = (
            await session.execute(select(Asset).where(Asset.video_id == video_id, Asset.kind == kind))
        ).scalar_one_or_none()
        added = charged_size(kind, size) - (charged_size(kind, existing.size) if existing else 0)
        quota = self.limits.user_quota_bytes
        if quota and added > 0:
            await lock_owner(session, owner_id, self.clock())
            used = (await bytes_in_use(session, [owner_id]))[owner_id]
            if used + added > quota:
                raise ResourceExhausted(
                    f"your storage quota of {quota} bytes is used up ({used} bytes stored; this "
                    f"{kind.lower()} output needs {added} more): delete videos you no longer need",
                    Reason.QUOTA_EXCEEDED,
                )
        if existing is None:
            session.add(
                Asset(
                    video_id=video_id,
                    kind=kind,
                    path=path,
                    content_type=content_type,
                    size=size,
                    created_at=self.clock(),
                )
            )
        else:
            existing.path, existing.content_type, existing.size = path, content_type, size
            existing.created_at = self.clock()

    async def set_media_info(self, owner_id: str, video_id: str, info: MediaInfo) -> None:
        async with self._transaction() as session:
            video = await self._lock_owned(session, owner_id, video_id)
            _apply_media_info(video, info)

    async def finish_processing(
        self,
        owner_id: str,
        video_id: str,
        worker_id: str,
        status: VideoStatus | None,
        error_step: Step | None,
        error: str | None,
    ) -> Video:
        """PROCESSING -> READY or FAILED, with its history row, in one transaction."""
        if status not in (READY, FAILED):
            raise InvalidArgument("processing finishes as READY or FAILED")
        async with self._transaction() as session:
            video = await self._lock_leased(session, owner_id, video_id, worker_id)
            if status == READY:
                await self._become_ready(session, video, message=(error or "")[:MAX_MESSAGE_CHARS])
            else:
                video.error, video.error_step = (error or "processing failed")[:MAX_MESSAGE_CHARS], error_step
                self._move(
                    session,
                    video,
                    Event.FINISH_FAILED,
                    step=error_step,
                    progress=video.progress,
                    message=(error or "")[:MAX_MESSAGE_CHARS],
                )
            video.lease_owner = video.lease_expires_at = None
        return await self.get_video(owner_id, video_id)

    async def finish_processing_ready(
        self,
        owner_id: str,
        video_id: str,
        worker_id: str,
        outputs: Sequence[ProcessingOutput],
        info: MediaInfo | None,
    ) -> Video:
        """PROCESSING -> READY with the job's outputs and media facts, in one transaction: what
        put_asset, set_media_info and finish_processing do one by one, so a job ends in one call.
        The lease is checked first; each output is charged to the owner's quota, and over it:
        RESOURCE_EXHAUSTED and nothing is recorded (no output, no facts, no status change), so
        the caller deletes the files and fails the job."""
        for output in outputs:
            if output.kind not in tuple(AssetKind):
                raise InvalidArgument("kind is not an asset kind this catalog knows")
        async with self._transaction() as session:
            video = await self._lock_leased(session, owner_id, video_id, worker_id)
            for output in outputs:
                assert output.kind is not None
                await self._record_asset(
                    session, owner_id, video_id, output.kind, output.path, output.content_type, output.size
                )
            if info is not None:
                _apply_media_info(video, info)
            await self._become_ready(session, video)
            video.lease_owner = video.lease_expires_at = None
        return await self.get_video(owner_id, video_id)

    async def _become_ready(self, session: AsyncSession, video: Video, message: str = "") -> None:
        """PROCESSING -> READY in this transaction, and its renditions queued from now on."""
        video.progress, video.current_step, video.error, video.error_step = 1.0, None, None, None
        self._move(session, video, Event.FINISH_READY, progress=1.0, message=message)
        # Encodable from the original from now on: FIFO in the queue from this moment.
        await session.execute(
            update(Rendition)
            .where(Rendition.video_id == video.id, Rendition.state == RenditionState.PENDING)
            .values(queued_at=self.clock())
            .execution_options(synchronize_session=False)
        )

    def _waiting_for_a_worker(self, now: dt.datetime):
        """Uploaded and waiting, or processing under a lease that lapsed with attempts left."""
        return or_(
            Video.status == UPLOADED,
            and_(
                Video.status == PROCESSING,
                Video.lease_expires_at < now,
                Video.processing_attempts < MAX_PROCESSING_ATTEMPTS,
            ),
        )

    async def count_waiting_for_a_worker(self) -> int:
        """How many jobs list_pending_processing would offer, in all (the backlog gauge)."""
        async with self.sessions() as session:
            return (
                await session.execute(
                    select(func.count()).select_from(Video).where(self._waiting_for_a_worker(self.clock()))
                )
            ).scalar_one()

    async def count_rendition_backlog(self) -> dict[str, int]:
        """Renditions waiting for an encoder or being encoded, by state (the backlog gauge)."""
        async with self.sessions() as session:
            rows = await session.execute(
                select(Rendition.state, func.count())
                .select_from(Rendition)
                .where(Rendition.state.in_((RenditionState.PENDING.value, RenditionState.PROCESSING.value)))
                .group_by(Rendition.state)
            )
            counts = {RenditionState.PENDING.value: 0, RenditionState.PROCESSING.value: 0}
            counts.update({state: n for state, n in rows})
            return counts

    async def list_pending_processing(self, limit: int) -> list[VideoRef]:
        """Jobs a media worker should pick up, a pure read. Owners take turns (each owner's
        oldest job, then each owner's second oldest, ...), so a user with a thousand uploads
        waiting delays another user's one upload by at most one job per worker."""
        now = self.clock()
        turn = _owner_turn(Video.owner_id, Video.status_changed_at, Video.id)
        waiting = (
            select(Video.id, Video.owner_id, Video.status_changed_at, turn)
            .where(self._waiting_for_a_worker(now))
            .subquery()
        )
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(waiting.c.owner_id, waiting.c.id)
                    .order_by(waiting.c.turn, waiting.c.status_changed_at, waiting.c.id)
                    .limit(housekeeping_batch(limit))
                )
            ).all()
        return [VideoRef(*row) for row in rows]

    async def fail_exhausted_jobs(self, limit: int) -> list[VideoRef]:
        """Housekeeping: jobs whose worker died MAX_PROCESSING_ATTEMPTS times end FAILED (the
        owner may retry them), so no video stays PROCESSING forever."""
        now = self.clock()
        exhausted = and_(
            Video.status.in_(sources(Event.FAIL_EXHAUSTED)),
            Video.lease_expires_at < now,
            Video.processing_attempts >= MAX_PROCESSING_ATTEMPTS,
        )
        async with self.sessions() as session:
            candidates = (
                await session.execute(
                    select(Video.id, Video.owner_id)
                    .where(exhausted)
                    .order_by(Video.status_changed_at, Video.id)
                    .limit(housekeeping_batch(limit))
                )
            ).all()
        failed: list[VideoRef] = []
        for video_id, owner_id in candidates:
            async with self._transaction() as session:
                # Conditional (and the row lock): a worker may have finished it meanwhile.
                result = await session.execute(
                    update(Video)
                    .where(Video.id == video_id, exhausted)
                    .values(updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != 1:
                    continue
                video = await self._locked(session, video_id)
                video.error_step = video.current_step
                video.error = (
                    f"processing was interrupted {video.processing_attempts} times "
                    f"(last step {video.current_step}); retry it explicitly"
                )
                video.lease_owner = video.lease_expires_at = None
                self._move(
                    session,
                    video,
                    Event.FAIL_EXHAUSTED,
                    step=video.current_step,
                    progress=video.progress,
                    message=video.error,
                )
                failed.append(VideoRef(owner_id, video_id))
        await self._fail_exhausted_renditions(now, limit)
        return failed

    async def _fail_exhausted_renditions(self, now: dt.datetime, limit: int) -> None:
        """Renditions whose encoder died MAX_PROCESSING_ATTEMPTS times end FAILED (the video stays
        READY; the owner may retry the rendition)."""
        exhausted = and_(
            Rendition.state == RenditionState.PROCESSING,
            Rendition.lease_expires_at < now,
            Rendition.attempts >= MAX_PROCESSING_ATTEMPTS,
        )
        async with self.sessions() as session:
            candidates = (
                await session.execute(
                    select(Rendition.video_id, Rendition.owner_id, Rendition.kind)
                    .where(exhausted)
                    .order_by(Rendition.updated_at)
                    .limit(housekeeping_batch(limit))
                )
            ).all()
        for video_id, owner_id, kind in candidates:
            async with self._transaction() as session:
                video = await self._lock_owned(session, owner_id, video_id)
                row = await self._rendition(session, video_id, RenditionKind(kind))
                if not (
                    row.state == RenditionState.PROCESSING
                    and row.attempts >= MAX_PROCESSING_ATTEMPTS
                    and row.lease_expires_at is not None
                    and as_utc(row.lease_expires_at) < now
                ):
                    continue  # an encoder finished it meanwhile
                row.error = f"the encode was interrupted {row.attempts} times; retry it explicitly"
                self._move_rendition(session, video, row, RenditionEvent.FAIL, message=row.error)


def _apply_media_info(video: Video, info: MediaInfo) -> None:
    """The probed facts onto the video row; a fact left None keeps what the row has."""
    for field in dataclasses.fields(info):
        value = getattr(info, field.name)
        if value is not None:
            setattr(video, field.name, value)
