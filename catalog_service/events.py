"""The event feed: an outbox of lifecycle changes, read by WatchEvents and the webhook dispatcher.

Writing. The catalog's lifecycle helper (Catalog._move, the chunk group commit, create_video) calls
`emit` with the lifecycle event it applies; lifecycle.FEED_EVENTS says which ones the feed tells.
The catalog's transaction helper calls `write_outbox` just before it commits, so the event rows
(and one webhook delivery row per matching endpoint) are part of the change's own transaction: a
change that commits has its event, a change that rolls back has none, and a kill -9 in between
loses neither.

Ordering. Cursors come from the one row of `event_cursor`, updated (so locked) as the last
statement before COMMIT. Two transactions that emit take cursors one after the other and the
first commits before the second gets its number, so a reader that has seen cursor N never later
finds a committed event below N: resuming "after my last cursor" misses nothing. The lock is the
last one any transaction takes and is held only until its commit, so it cannot deadlock, and only
transactions that change a status take it (a few per video).

Reading. One `EventFeed` per catalog process: each WatchEvents stream reads its own batches, and
when it has caught up waits for the feed's head (the newest cursor) to move. The head moves at
once after a commit of this process; on PostgreSQL every commit that writes events also sends
`NOTIFY recorder_events, '<newest cursor>'`, which one LISTEN connection per process hears (the
machinery of watch_hub.py); elsewhere, or while that connection is down, one loop per process
reads the head every `poll_seconds` while any stream is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import uuid
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence

from sqlalchemy import Engine, delete, event as sa_event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from catalog_service.lifecycle import SHARE_LINK_REVOKED, VIDEO_CREATED, Event, RenditionEvent, feed_event
from catalog_service.models import Asset, EventCursor, FeedEvent, WebhookDelivery, as_utc
from catalog_service.watch_hub import call_on_loop, listen_forever, listen_url, wake_local
from recorder_common import metrics
from recorder_common.errors import InvalidArgument, OutOfRange
from recorder_common.tasks import cancel_and_wait

log = logging.getLogger("recorder.catalog.events")

EVENTS_CHANNEL = "recorder_events"
EVENTS_LISTENER_APPLICATION_NAME = "recorder-catalog-events"
READY_TYPE = "video.ready"
FAILED_TYPE = "video.failed"
RENDITION_READY_TYPE = "rendition.ready"
RENDITION_FAILED_TYPE = "rendition.failed"
BATCH = 500  # events per read of a stream
PENDING, DELIVERING, DELIVERED, DEAD = "pending", "delivering", "delivered", "dead"
DELIVERY_STATES = (PENDING, DELIVERING, DELIVERED, DEAD)

_PENDING_KEY = "recorder.events.pending"
_WRITTEN_KEY = "recorder.events.written"
_LAST_KEY = "recorder.events.last_written"


@dataclasses.dataclass(frozen=True)
class _Pending:
    type: str
    video_id: str
    owner_id: str
    at: dt.datetime
    error: str | None = None
    rendition: str | None = None  # the rendition kind, for rendition.* events
    link_id: str | None = None  # share_link.* events


# ---- writing ----------------------------------------------------------------------------------


def emit(
    session: AsyncSession | Session,
    video,
    lifecycle_event: Event | RenditionEvent | None,
    at: dt.datetime,
    rendition=None,
) -> None:
    """Queue the feed event of a lifecycle change applied to `video` in this transaction (None:
    the video was created), or of a rendition event applied to `rendition` (its row). Written by
    write_outbox before the commit."""
    kind = VIDEO_CREATED if lifecycle_event is None else feed_event(lifecycle_event)
    if kind is None:
        return
    if kind == FAILED_TYPE:
        error = video.error
    elif kind == RENDITION_FAILED_TYPE:
        error = rendition.error
    else:
        error = None
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    sync.info.setdefault(_PENDING_KEY, []).append(
        _Pending(kind, video.id, video.owner_id, at, error, rendition.kind if rendition is not None else None)
    )


def emit_link_revoked(session: AsyncSession, link, at: dt.datetime) -> None:
    """Queue share_link.revoked for a link this transaction revoked (ShareLinks.revoke)."""
    session.sync_session.info.setdefault(_PENDING_KEY, []).append(
        _Pending(SHARE_LINK_REVOKED, link.video_id, link.owner_id, at, link_id=link.id)
    )


def last_written(session: AsyncSession) -> int | None:
    """The newest cursor this (committed) session's outbox wrote, or None."""
    return session.sync_session.info.get(_LAST_KEY)


async def write_outbox(session: AsyncSession, endpoints: Sequence = ()) -> None:
    """Write the events emit() queued in this transaction, with cursors, and a webhook delivery
    per endpoint that wants each. Call it last in the transaction, just before COMMIT."""
    pending: list[_Pending] = session.sync_session.info.pop(_PENDING_KEY, [])
    if not pending:
        return
    await session.flush()  # the changes first, so a READY event lists the assets as committed
    await session.execute(
        update(EventCursor)
        .where(EventCursor.id == 1)
        .values(last_cursor=EventCursor.last_cursor + len(pending))
        .execution_options(synchronize_session=False)
    )
    last = (await session.execute(select(EventCursor.last_cursor).where(EventCursor.id == 1))).scalar_one()
    if session.sync_session.get_bind().dialect.name == "postgresql":
        # Delivered at COMMIT (dropped on ROLLBACK) to every replica's feed: the newest cursor.
        await session.execute(
            text("SELECT pg_notify(:channel, :cursor)"), {"channel": EVENTS_CHANNEL, "cursor": str(last)}
        )
    first = last - len(pending) + 1
    ready_ids = sorted({p.video_id for p in pending if p.type in (READY_TYPE, RENDITION_READY_TYPE)})
    assets: dict[str, list[dict]] = {}
    if ready_ids:
        rows = await session.execute(
            select(Asset.video_id, Asset.kind, Asset.content_type, Asset.size)
            .where(Asset.video_id.in_(ready_ids))
            .order_by(Asset.video_id, Asset.kind)
        )
        for video_id, kind, content_type, size in rows:
            assets.setdefault(video_id, []).append({"kind": kind, "content_type": content_type, "size_bytes": size})
    for offset, p in enumerate(pending):
        payload: dict = {}
        if p.type == READY_TYPE:
            payload["assets"] = assets.get(p.video_id, [])
        elif p.type == RENDITION_READY_TYPE:  # the rendition's own output
            payload["assets"] = [a for a in assets.get(p.video_id, []) if a["kind"] == p.rendition]
        if p.rendition:
            payload["rendition"] = p.rendition
        if p.link_id:
            payload["link_id"] = p.link_id
        if p.error:
            payload["error"] = p.error[:2000]
        row = FeedEvent(
            cursor=first + offset,
            event_id=str(uuid.uuid4()),
            type=p.type,
            video_id=p.video_id,
            owner_id=p.owner_id,
            at=p.at,
            payload=json.dumps(payload, separators=(",", ":")),
        )
        session.add(row)
        for endpoint in endpoints:
            if endpoint.wants(p.type):
                session.add(
                    WebhookDelivery(
                        event_cursor=row.cursor,
                        event_id=row.event_id,
                        endpoint=endpoint.url,
                        state=PENDING,
                        attempts=0,
                        next_attempt_at=p.at,
                        created_at=p.at,
                    )
                )
    session.sync_session.info[_WRITTEN_KEY] = last
    session.sync_session.info[_LAST_KEY] = last  # kept after the commit, for last_written


def body(row: FeedEvent) -> dict:
    """What a consumer gets of an event (a webhook's JSON body; WatchEvents carries the same)."""
    payload = json.loads(row.payload or "{}")
    out = {
        "id": row.event_id,
        "cursor": row.cursor,
        "type": row.type,
        "video_id": row.video_id,
        "owner_id": row.owner_id,
        "time": as_utc(row.at).isoformat().replace("+00:00", "Z"),
    }
    if row.type in (READY_TYPE, RENDITION_READY_TYPE):
        out["assets"] = payload.get("assets", [])
    if payload.get("rendition"):
        out["rendition"] = payload["rendition"]
    if payload.get("link_id"):
        out["link_id"] = payload["link_id"]
    if payload.get("error"):
        out["error"] = payload["error"]
    return out


# Feeds by the engine whose commits they hear about directly.
_LOCAL_FEEDS: "weakref.WeakKeyDictionary[Engine, weakref.WeakSet[EventFeed]]" = weakref.WeakKeyDictionary()


@sa_event.listens_for(Session, "after_commit")
def _wake_local_feeds(session: Session) -> None:
    head = session.info.pop(_WRITTEN_KEY, None)
    if head is not None:
        wake_local(_LOCAL_FEEDS, session, head)


@sa_event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING_KEY, None)
    session.info.pop(_WRITTEN_KEY, None)


# ---- reading ----------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class _Reader:
    wanted: frozenset[str]
    position: int  # every event up to here was sent (or filtered out)


class EventFeed:
    """Every WatchEvents stream of this process (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        poll_seconds: float = 0.5,
        listen: bool = True,
        listen_check_seconds: float = 30.0,
        query_timeout_seconds: float = 30.0,
    ) -> None:
        self._sessions = sessions
        engine = sessions.kw["bind"]
        self.poll_seconds = poll_seconds
        self.listen_check_seconds = listen_check_seconds
        self.query_timeout_seconds = query_timeout_seconds
        self._listen_url = listen_url(engine, listen)
        self.listening = False
        self.notified = 0  # NOTIFYs heard (PostgreSQL)
        self._head = 0
        self._moved = asyncio.Event()  # replaced each time the head moves
        self._reread = asyncio.Event()  # the loop reads the head again now
        self._open = 0
        # Each open stream's filter and how far it has been sent (for delivered()).
        self._readers: set[_Reader] = set()
        self._progress = asyncio.Event()  # replaced each time a reader moves on
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        metrics.track_event_feed(self)
        _LOCAL_FEEDS.setdefault(sessions.kw["bind"].sync_engine, weakref.WeakSet()).add(self)

    def open_streams(self) -> int:
        return self._open

    async def newest(self) -> int:
        """The newest cursor committed: a stream that follows from it hears everything after."""
        async with asyncio.timeout(self.query_timeout_seconds):
            async with self._sessions() as session:
                return (await session.execute(select(EventCursor.last_cursor).where(EventCursor.id == 1))).scalar_one()

    async def delivered(self, cursor: int, event_type: str, timeout_seconds: float) -> bool:
        """Wait until every open stream of this process that asked for event_type by name has been
        sent everything up to cursor (its gRPC write completed), or the timeout passed (False).
        Streams that take every type are not waited for: they are not who the caller waits on."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_seconds
        while any(event_type in r.wanted and r.position < cursor for r in self._readers):
            progress = self._progress
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0)):
                    await progress.wait()
            except TimeoutError:
                return False
        return True

    def _moved_on(self, reader: "_Reader", position: int) -> None:
        if position > reader.position:
            reader.position = position
            progress, self._progress = self._progress, asyncio.Event()
            progress.set()

    async def follow(self, after_cursor: int, types: Iterable[str] = ()) -> AsyncIterator[FeedEvent]:
        """Every event after the cursor, then each new one, forever (the caller ends it)."""
        if after_cursor < 0:
            raise InvalidArgument("after_cursor must be 0 (the oldest kept) or a cursor WatchEvents sent")
        wanted = frozenset(types)
        reader = _Reader(wanted, after_cursor)
        self._open += 1
        self._readers.add(reader)
        try:
            async with asyncio.timeout(self.query_timeout_seconds):
                async with self._sessions() as session:
                    last, pruned = (
                        await session.execute(
                            select(EventCursor.last_cursor, EventCursor.pruned_through).where(EventCursor.id == 1)
                        )
                    ).one()
            if after_cursor and after_cursor < pruned:
                raise OutOfRange(
                    f"events up to cursor {pruned} were pruned (EVENT_RETENTION_SECONDS); resume "
                    f"after_cursor 0 for everything kept, and reconcile what may have been missed"
                )
            if after_cursor > last:
                raise OutOfRange(
                    f"after_cursor {after_cursor} is past the newest event ({last}); send a cursor "
                    "WatchEvents gave you, or 0"
                )
            self._head = max(self._head, last)
            cursor = after_cursor
            while True:
                # Every cursor up to a head seen before the read is committed (see the module
                # docstring), so a filtered stream that found nothing may skip past it.
                head_before = self._head
                async with asyncio.timeout(self.query_timeout_seconds):
                    async with self._sessions() as session:
                        query = select(FeedEvent).where(FeedEvent.cursor > cursor)
                        if wanted:
                            query = query.where(FeedEvent.type.in_(sorted(wanted)))
                        rows = list((await session.execute(query.order_by(FeedEvent.cursor).limit(BATCH))).scalars())
                for row in rows:
                    yield row
                    cursor = row.cursor
                    self._moved_on(reader, cursor)  # resumed: the consumer has it (sent)
                if len(rows) == BATCH:
                    continue
                if wanted:
                    cursor = max(cursor, head_before)
                    self._moved_on(reader, cursor)
                await self._wait_beyond(cursor)
        finally:
            self._readers.discard(reader)
            self._open -= 1
            if not self._open:
                self._reread.set()  # the loop ends (and closes its LISTEN connection)

    async def _wait_beyond(self, cursor: int) -> None:
        self._loop = asyncio.get_running_loop()
        while self._head <= cursor:
            moved = self._moved
            if self._task is None or self._task.done():
                self._task = self._loop.create_task(self._run(), name="event-feed")
            await moved.wait()

    def _advance(self, head: int) -> None:
        if head > self._head:
            self._head = head
            moved, self._moved = self._moved, asyncio.Event()
            moved.set()

    def _committed_here(self, head: int) -> None:
        call_on_loop(self._loop, self._advance, head)

    async def _run(self) -> None:
        """While any stream is open: the head from LISTEN (PostgreSQL: every commit that writes
        events notifies its newest cursor), re-read after each (re)connection, and polled every
        poll_seconds while not listening (SQLite, or the connection is down)."""
        listener = None
        if self._listen_url is not None:

            def connected(up: bool) -> None:
                self.listening = up
                self._reread.set()  # catch up on what was committed while nobody listened

            listener = asyncio.get_running_loop().create_task(
                listen_forever(
                    self._listen_url,
                    EVENTS_CHANNEL,
                    EVENTS_LISTENER_APPLICATION_NAME,
                    on_notify=self._notified,
                    on_connection=connected,
                    check_seconds=self.listen_check_seconds,
                    poll_seconds=self.poll_seconds,
                ),
                name="event-feed-listen",
            )
        try:
            while self._open:
                self._reread.clear()
                try:
                    async with asyncio.timeout(self.query_timeout_seconds):
                        async with self._sessions() as session:
                            head = (
                                await session.execute(select(EventCursor.last_cursor).where(EventCursor.id == 1))
                            ).scalar_one()
                    self._advance(head)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("reading the event feed's head failed; trying again")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.listen_check_seconds if self.listening else self.poll_seconds):
                        await self._reread.wait()
        finally:
            self.listening = False
            await cancel_and_wait(listener)

    def _notified(self, payload: str) -> None:
        self.notified += 1
        try:
            self._advance(int(payload))
        except ValueError:
            self._reread.set()

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)


# ---- retention ----------------------------------------------------------------------------------


async def prune(
    sessions: async_sessionmaker[AsyncSession], now: dt.datetime, retention_seconds: float, limit: int = 10_000
) -> int:
    """Remove events older than the retention, with their finished deliveries, oldest first. An
    event with a delivery still pending or in flight stays until that delivery ends. Returns the
    number of events removed."""
    cutoff = now - dt.timedelta(seconds=retention_seconds)
    async with sessions() as session, session.begin():
        unfinished = select(WebhookDelivery.event_cursor).where(WebhookDelivery.state.in_((PENDING, DELIVERING)))
        oldest_unfinished = (await session.execute(select(func.min(unfinished.subquery().c.event_cursor)))).scalar()
        query = select(FeedEvent.cursor).where(FeedEvent.at < cutoff)
        if oldest_unfinished is not None:
            query = query.where(FeedEvent.cursor < oldest_unfinished)  # prune a prefix only: no holes
        through = (
            await session.execute(select(func.max(query.order_by(FeedEvent.cursor).limit(limit).subquery().c.cursor)))
        ).scalar()
        if through is None:
            return 0
        await session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_cursor <= through))
        removed = (await session.execute(delete(FeedEvent).where(FeedEvent.cursor <= through))).rowcount
        await session.execute(
            update(EventCursor)
            .where(EventCursor.id == 1, EventCursor.pruned_through < through)
            .values(pruned_through=through)
        )
        return removed
