"""Database schema (SQLAlchemy 2 typed models). Changes go through Alembic migrations."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def as_utc(value: dt.datetime) -> dt.datetime:
    """A stored datetime, timezone-aware in UTC: SQLite hands back naive ones (we only ever store UTC)."""
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(512), default="")
    filename: Mapped[str] = mapped_column(String(255), default="")
    content_type: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(16))
    expected_size: Mapped[int | None] = mapped_column(BigInteger)
    last_index: Mapped[int | None] = mapped_column(BigInteger)
    received_chunks: Mapped[int] = mapped_column(BigInteger, default=0)
    received_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    current_step: Mapped[str | None] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    error_step: Mapped[str | None] = mapped_column(String(16))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    video_codec: Mapped[str | None] = mapped_column(String(32))
    audio_codec: Mapped[str | None] = mapped_column(String(32))
    container: Mapped[str | None] = mapped_column(String(32))
    # The processing lease: which media worker holds the job and until when. An expired lease means
    # the worker died, and any worker may claim the job again.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    processing_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Owner-requested RetryProcessing calls so far (capped: each one is a full processing run).
    processing_retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Any write to the row (row locks bump it too): the activity clock of an upload.
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # When the video entered its current status: the clock of everything "in this status for N s"
    # (chunk cleanup after READY, purge after DELETED). Only lifecycle transitions set it.
    status_changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True
    )
    assets: Mapped[list[Asset]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True, order_by="Asset.kind"
    )
    events: Mapped[list[StatusEvent]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True, order_by="StatusEvent.id"
    )
    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="video", cascade="all, delete-orphan", passive_deletes=True, order_by="Rendition.kind"
    )

    __table_args__ = (
        Index("ix_videos_owner_created", "owner_id", "created_at", "id"),
        Index("ix_videos_status", "status"),
        Index("ix_videos_status_changed", "status", "status_changed_at"),
    )


class Chunk(Base):
    __tablename__ = "chunks"

    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    index: Mapped[int] = mapped_column("chunk_index", BigInteger, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    crc32c: Mapped[int] = mapped_column(BigInteger)
    # The write that made this chunk's file (its name is index + token): only that write's file
    # is the chunk. NULL for chunks stored before migration 0002 (index-only names).
    file_token: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    video: Mapped[Video] = relationship(back_populates="chunks")


class Asset(Base):
    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(512))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    video: Mapped[Video] = relationship(back_populates="assets")

    __table_args__ = (UniqueConstraint("video_id", "kind", name="uq_assets_video_kind"),)


class Rendition(Base):
    """A derived output of a video (today the compressed MP4) with its own lifecycle, created with
    the video. States change only through lifecycle.py's table; a FAILED rendition never changes
    the video's status. Its asset is the video's asset of the same kind."""

    __tablename__ = "renditions"

    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    # Denormalised from the video so the queue's owner-fair order needs no join.
    owner_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    # The encoder holding it (a live encode or a queued one) and until when; a lapsed lease means
    # the encoder died, and the queue hands the rendition out again.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it (last) became PENDING: the queue is FIFO by this within fairness between owners.
    queued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    video: Mapped[Video] = relationship(back_populates="renditions")

    __table_args__ = (Index("ix_renditions_state_queued", "state", "queued_at"),)


class StatusEvent(Base):
    __tablename__ = "status_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    step: Mapped[str | None] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    video: Mapped[Video] = relationship(back_populates="events")


class OwnerLock(Base):
    """One row per owner, locked (upserted) by every decision that counts the owner's videos or
    bytes (open-upload cap, output quota, processing slots), so concurrent callers on any number
    of catalog replicas decide one after another. Taken after any video row lock, never before."""

    __tablename__ = "owner_locks"

    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    locked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FeedEvent(Base):
    """The outbox: one row per lifecycle change worth telling backend services (WatchEvents,
    webhooks), written in the transaction that made the change. No foreign key: an event outlives
    its video's purge, until EVENT_RETENTION_SECONDS prunes it."""

    __tablename__ = "events"

    # The feed's order. Allocated from event_cursor's one row, locked until commit, so cursors
    # become visible in increasing order (a reader never sees 6 and later finds 5).
    cursor: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)  # uuid4: the idempotency key
    type: Mapped[str] = mapped_column(String(32))
    video_id: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[str] = mapped_column(Text, default="{}")  # JSON: assets for video.ready, error for failed

    __table_args__ = (Index("ix_events_at", "at"),)


class EventCursor(Base):
    """One row (id 1): the last cursor handed out, and the newest cursor pruned by retention."""

    __tablename__ = "event_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    pruned_through: Mapped[int] = mapped_column(BigInteger, default=0)


class WebhookDelivery(Base):
    """One event for one configured endpoint. pending -> delivering (claimed under a lease by one
    catalog replica) -> delivered, or back to pending with a later next_attempt_at, or dead once
    the retry window is over."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_cursor: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(36))
    endpoint: Mapped[str] = mapped_column(String(2048))  # the configured URL (its secret stays in config)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("event_cursor", "endpoint", name="uq_webhook_deliveries_event_endpoint"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    )


class ShareLink(Base):
    """A public watch link to one video. The id is the credential (secrets.token_urlsafe, 128
    bits), so it is never derived from anything else and never listed to anyone but the owner."""

    __tablename__ = "share_links"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[str] = mapped_column(String(64))
    allow_download: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_share_links_owner_created", "owner_id", "created_at"),)
