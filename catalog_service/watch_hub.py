"""WatchVideo fan-out: one watcher loop per catalog process serves every open watch stream.

The database is read once per change (or once per poll tick), never once per stream: the loop
keeps the set of watched video ids, and each refresh reads all the videos that may have changed
in one statement, then hands the new state to every stream of those videos.

How the loop learns that a video changed:
- the same process committed it: a session listener sees the change and wakes the loop at once;
- PostgreSQL: every transaction that changes a video's status, step, progress or error also sends
  `NOTIFY recorder_video_changed, '<video id>'` (delivered only if it commits), and the loop
  LISTENs on its own connection, so changes made by any replica arrive within a round trip;
- SQLite, or while the LISTEN connection is down: one shared poll per tick of every watched id.

Each stream keeps only the states it has not sent yet, and of a run of states with one status only
the newest (a client that reads slowly gets the latest progress, every status change, in order, and
costs bounded memory).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime as dt
import itertools
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine, and_, event, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BinaryExpression, BindParameter

from catalog_service.models import Asset, Rendition, Video
from catalog_service.statuses import DELETED, EXPIRED, FAILED, READY
from recorder_common import metrics
from recorder_common.errors import DeadlineExceeded, NotFound, Reason, ResourceExhausted
from recorder_common.ids import check_video_id
from recorder_common.vocab import RENDITION_FINAL_STATES
from recorder_common.tasks import cancel_and_wait

log = logging.getLogger("recorder.catalog.watch")

CHANNEL = "recorder_video_changed"
LISTENER_APPLICATION_NAME = "recorder-catalog-watch"  # how the LISTEN connection shows in pg_stat_activity
ANY_VIDEO = "*"  # a NOTIFY payload meaning "some videos changed; which is unknown"
# What a watch stream reports; a change to anything else (chunk counts, updated_at) wakes no one.
WATCHED_COLUMNS = ("status", "current_step", "progress", "error", "error_step")
WATCHED_RENDITION_COLUMNS = ("state", "progress", "error")
FINAL_STATUSES = (READY, FAILED, EXPIRED, DELETED)
REFRESH_BATCH = 500  # ids per statement: well under SQLite's bound-parameter limit
MAX_PENDING_PER_STREAM = 8  # distinct statuses a stream may hold unsent (a video has fewer)

_CHANGED_KEY = "recorder.watch_hub.changed_video_ids"


@dataclasses.dataclass(frozen=True)
class VideoSnapshot:
    """What a watch stream shows of a video at one moment."""

    id: str
    owner_id: str
    status: str
    current_step: str | None
    progress: float
    error: str | None
    error_step: str | None
    updated_at: dt.datetime
    renditions: tuple[RenditionSnapshot, ...] = ()

    @property
    def key(self) -> tuple:
        return (
            self.status,
            self.current_step,
            round(self.progress or 0.0, 3),
            self.error,
            self.error_step,
            tuple(r.key for r in self.renditions),
        )

    @property
    def final(self) -> bool:
        """Nothing more will change: a final status, and for READY every rendition done too."""
        if self.status not in FINAL_STATUSES:
            return False
        return self.status != READY or all(r.state in RENDITION_FINAL_STATES for r in self.renditions)


@dataclasses.dataclass(frozen=True)
class RenditionSnapshot:
    kind: str
    state: str
    progress: float
    error: str | None
    asset_path: str | None = None
    asset_content_type: str | None = None
    asset_size: int | None = None
    asset_created_at: dt.datetime | None = None

    @property
    def key(self) -> tuple:
        return (self.kind, self.state, round(self.progress or 0.0, 3), self.error, self.asset_path)


_SNAPSHOT_COLUMNS = (
    Video.id,
    Video.owner_id,
    Video.status,
    Video.current_step,
    Video.progress,
    Video.error,
    Video.error_step,
    Video.updated_at,
)
_RENDITION_COLUMNS = (
    Rendition.video_id,
    Rendition.kind,
    Rendition.state,
    Rendition.progress,
    Rendition.error,
    Asset.path,
    Asset.content_type,
    Asset.size,
    Asset.created_at,
)
_UNSET = object()
_T = TypeVar("_T")


# ---- change tracking: every session of this process ------------------------------------------
def notify_changed(session: Session | AsyncSession, video_id: str | None) -> None:
    """Tell watchers that a video changed, as part of the session's current transaction (sent
    only if it commits). The ORM changes and update(Video) statements are seen without this; call
    it after changing a video's status, step, progress or error any other way (raw SQL, a
    connection-level execute). None means "some videos, which is unknown" (every watched video is
    then read again)."""
    _record_change(session.sync_session if isinstance(session, AsyncSession) else session, {video_id or ANY_VIDEO})


def _record_change(session: Session, video_ids: set[str]) -> None:
    pending = session.info.setdefault(_CHANGED_KEY, set())
    new = video_ids - pending
    if not new:
        return
    pending.update(new)
    if _dialect(session) == "postgresql":
        # In the transaction: PostgreSQL delivers it at COMMIT and drops it on ROLLBACK.
        connection = session.connection()
        for video_id in sorted(new):
            connection.execute(
                text("SELECT pg_notify(:channel, :video_id)"), {"channel": CHANNEL, "video_id": video_id}
            )


def _dialect(session: Session) -> str | None:
    try:
        return session.get_bind().dialect.name
    except Exception:  # a session with no single bind is none of the catalog's
        return None


@event.listens_for(Session, "after_flush")
def _changes_in_flush(session: Session, _flush_context) -> None:
    changed = set()
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Rendition):  # a rendition's state or progress is part of its video's stream
            if (
                obj in session.new
                or obj in session.deleted
                or any(inspect(obj).attrs[c].history.has_changes() for c in WATCHED_RENDITION_COLUMNS)
            ):
                changed.add(obj.video_id)
            continue
        if not isinstance(obj, Video) or obj in session.new:
            continue
        state = inspect(obj)
        if obj in session.deleted or any(state.attrs[c].history.has_changes() for c in WATCHED_COLUMNS):
            changed.add(obj.id)
    if changed:
        _record_change(session, changed)


@event.listens_for(Session, "do_orm_execute")
def _changes_in_statement(orm_execute_state: ORMExecuteState) -> None:
    # update(Video) and delete(Video) statements bypass the ORM's dirty tracking.
    if not (orm_execute_state.is_update or orm_execute_state.is_delete):
        return
    statement = orm_execute_state.statement
    table = getattr(statement, "table", None)
    if getattr(table, "name", None) != Video.__tablename__:
        return
    if orm_execute_state.is_update:
        values = getattr(statement, "_values", None)
        touched = None if values is None else {getattr(k, "name", k) for k in values}
        if touched is not None and touched.isdisjoint(WATCHED_COLUMNS):
            return
    ids = _ids_in_where(statement.whereclause)
    _record_change(orm_execute_state.session, ids or {ANY_VIDEO})


def _ids_in_where(where) -> set[str]:
    """The video ids a statement's WHERE pins down with `id = x` or `id IN (...)`; empty if none."""
    if where is None:
        return set()
    for element in visitors.iterate(where):
        if not isinstance(element, BinaryExpression) or not isinstance(element.right, BindParameter):
            continue
        left = element.left
        table = getattr(getattr(left, "table", None), "name", None)
        if getattr(left, "name", None) != "id" or table != Video.__tablename__:
            continue
        value = element.right.effective_value
        if element.operator is operators.eq and isinstance(value, str):
            return {value}
        if element.operator is operators.in_op and isinstance(value, (list, tuple)):
            return {v for v in value if isinstance(v, str)}
    return set()


# Hubs by the engine whose commits they hear about directly (commits on other engines, as in
# other processes, arrive through NOTIFY or the poll).
_LOCAL_HUBS: "weakref.WeakKeyDictionary[Engine, weakref.WeakSet[WatchHub]]" = weakref.WeakKeyDictionary()


def wake_local(registry: weakref.WeakKeyDictionary[Engine, Any], session: Session, change: object) -> None:
    """Hands a commit's change to every hub (or event feed) of this process on the session's
    engine, through their _committed_here (after_commit: the change is durable)."""
    try:
        bind = session.get_bind()
    except Exception:
        return
    for listener in list(registry.get(getattr(bind, "engine", bind), ())):
        listener._committed_here(change)


def call_on_loop(loop: asyncio.AbstractEventLoop | None, callback: Callable[[_T], None], arg: _T) -> None:
    """callback(arg) on loop: at once when called on it, else scheduled thread-safely (a commit
    hook may run in another thread); nothing once the loop is gone."""
    if loop is None or loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        callback(arg)
    else:
        loop.call_soon_threadsafe(callback, arg)


@event.listens_for(Session, "after_commit")
def _wake_local_watchers(session: Session) -> None:
    changed = session.info.pop(_CHANGED_KEY, None)
    if changed:
        wake_local(_LOCAL_HUBS, session, changed)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_CHANGED_KEY, None)


# ---- the hub ---------------------------------------------------------------------------------
class _Stream:
    __slots__ = ("owner_id", "video_id", "pending", "ready", "offered_key")

    def __init__(self, owner_id: str, video_id: str) -> None:
        self.owner_id, self.video_id = owner_id, video_id
        self.pending: collections.deque[VideoSnapshot | None] = collections.deque()
        self.ready = asyncio.Event()
        self.offered_key: object = _UNSET

    def offer(self, snapshot: VideoSnapshot | None) -> None:
        key = None if snapshot is None else snapshot.key
        if key == self.offered_key:
            return
        self.offered_key = key
        last = self.pending[-1] if self.pending else None
        if last is not None and snapshot is not None and last.status == snapshot.status:
            self.pending[-1] = snapshot  # newer progress of the same status replaces the unsent one
        else:
            self.pending.append(snapshot)
            if len(self.pending) > MAX_PENDING_PER_STREAM:
                self.pending.popleft()
        self.ready.set()


class WatchHub:
    """Every WatchVideo stream of this process, fed by one loop (see the module docstring)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        max_streams_per_user: int = 16,
        max_seconds: float = 3600.0,
        poll_seconds: float = 0.25,
        listen: bool = True,
        coalesce_seconds: float = 0.02,
        idle_seconds: float = 10.0,
        listen_check_seconds: float = 30.0,
        query_timeout_seconds: float = 30.0,
    ) -> None:
        self._sessions = sessions
        engine = sessions.kw["bind"]
        self.max_streams_per_user = max_streams_per_user
        self.max_seconds = max_seconds
        self.poll_seconds = poll_seconds
        self.coalesce_seconds = coalesce_seconds
        # With LISTEN, the loop (and its connection) outlives the last stream this long, so a
        # client that reconnects does not cost a new PostgreSQL connection each time.
        self.idle_seconds = idle_seconds
        self.listen_check_seconds = listen_check_seconds
        self.query_timeout_seconds = query_timeout_seconds
        self._listen_url = listen_url(engine, listen)
        self._streams: dict[str, set[_Stream]] = {}
        self._open_by_user: collections.Counter[str] = collections.Counter()
        metrics.track_watch_hub(self)
        self._latest: dict[str, VideoSnapshot | None] = {}
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._listener: asyncio.Task | None = None
        self.listening = False
        self.listens = 0  # LISTEN connections made so far (reconnects included)
        self.refreshes = 0  # refresh rounds so far (each is one statement per REFRESH_BATCH ids)
        _LOCAL_HUBS.setdefault(engine.sync_engine, weakref.WeakSet()).add(self)

    def open_streams(self, owner_id: str | None = None) -> int:
        return self._open_by_user[owner_id] if owner_id is not None else sum(self._open_by_user.values())

    async def watch(self, owner_id: str, video_id: str) -> AsyncIterator[VideoSnapshot]:
        """The video's current state, then each change, until a final status (which is sent). A
        video of someone else, or none, is NOT_FOUND; past the stream's lifetime, DEADLINE_EXCEEDED."""
        check_video_id(video_id)
        if self._open_by_user[owner_id] >= self.max_streams_per_user:
            raise ResourceExhausted(
                f"you already have {self._open_by_user[owner_id]} WatchVideo streams open, the most one "
                f"user may have; close one you no longer need (or let it finish) and watch again",
                Reason.TOO_MANY_WATCH_STREAMS,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_seconds
        stream = _Stream(owner_id, video_id)
        self._add(stream)
        try:
            last: VideoSnapshot | None = None
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        await stream.ready.wait()
                except TimeoutError:
                    if last is None:
                        raise DeadlineExceeded(
                            f"video {video_id}: its state could not be read within {self.max_seconds:g} s; try again"
                        ) from None
                    raise DeadlineExceeded(
                        f"video {video_id} is still {last.status} after {self.max_seconds:g} s of watching; watch again"
                    ) from None
                stream.ready.clear()
                while stream.pending:
                    snapshot = stream.pending.popleft()
                    gone = snapshot is None or snapshot.owner_id != owner_id
                    if gone or (last is None and snapshot.status == DELETED):
                        raise NotFound(f"video {video_id} not found")
                    last = snapshot
                    yield snapshot
                    if snapshot.final:
                        return
        finally:
            self._remove(stream)

    async def aclose(self) -> None:
        await cancel_and_wait(self._task, self._listener)

    # ---- bookkeeping ------------------------------------------------------------------------
    def _add(self, stream: _Stream) -> None:
        self._open_by_user[stream.owner_id] += 1
        self._streams.setdefault(stream.video_id, set()).add(stream)
        cached = self._latest.get(stream.video_id, _UNSET)
        if cached is not _UNSET:
            stream.offer(cached)  # as current as every other stream of this video
        else:
            self._mark({stream.video_id})
        self._loop = asyncio.get_running_loop()
        if self._task is None:
            self._task = self._loop.create_task(self._run(), name="watch-hub")
        if self._listen_url is not None and (self._listener is None or self._listener.done()):
            self._listener = self._loop.create_task(self._listen(), name="watch-hub-listen")

    def _remove(self, stream: _Stream) -> None:
        self._open_by_user[stream.owner_id] -= 1
        if self._open_by_user[stream.owner_id] <= 0:
            del self._open_by_user[stream.owner_id]
        streams = self._streams.get(stream.video_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._streams[stream.video_id]
                self._latest.pop(stream.video_id, None)
        if not self._streams:
            self._wake.set()  # let the loop start its idle countdown

    def _mark(self, video_ids: Iterable[str]) -> None:
        if ANY_VIDEO in video_ids:
            self._dirty.update(self._streams)
        else:
            self._dirty.update(v for v in video_ids if v in self._streams)
        if self._dirty:
            self._wake.set()

    def _committed_here(self, video_ids: set[str]) -> None:
        """A commit of this process changed these videos (called from the session's after_commit)."""
        # On PostgreSQL this commit's NOTIFY arrives as well and costs one more read (often merged
        # into this one): skipping it safely would need to know it was sent before the LISTEN
        # connection read it, which the order of callbacks does not promise.
        call_on_loop(self._loop, self._mark, video_ids)

    # ---- the loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_refresh = -float("inf")
        try:
            while True:
                if not self._streams:
                    if self._listen_url is None:
                        return  # nothing worth keeping: the next stream starts a new loop at once
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.idle_seconds):
                            while not self._streams:
                                self._wake.clear()
                                await self._wake.wait()
                    if not self._streams:
                        return
                    continue
                if not self._dirty:
                    try:
                        async with asyncio.timeout(None if self.listening else self.poll_seconds):
                            await self._wake.wait()
                    except TimeoutError:
                        self._dirty.update(self._streams)  # the shared poll: every watched video
                self._wake.clear()
                # A burst of commits (progress reports of many videos) becomes one refresh.
                pause = last_refresh + self.coalesce_seconds - loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                video_ids = [v for v in self._dirty if v in self._streams]
                self._dirty.clear()
                if not video_ids:
                    continue
                last_refresh = loop.time()
                try:
                    await self._refresh(video_ids)
                except Exception:
                    log.exception("reading %d watched videos failed; trying again", len(video_ids))
                    self._dirty.update(video_ids)
                    await asyncio.sleep(max(self.poll_seconds, 1.0))
        finally:
            self._task = None  # set before any await-free exit, so the next stream starts a new loop
            if self._listener is not None:
                self._listener.cancel()
                self._listener = None
            self.listening = False

    async def _refresh(self, video_ids: list[str]) -> None:
        found: dict[str, VideoSnapshot] = {}
        async with asyncio.timeout(self.query_timeout_seconds):
            async with self._sessions() as session:
                for start in range(0, len(video_ids), REFRESH_BATCH):
                    batch = video_ids[start : start + REFRESH_BATCH]
                    rows = await session.execute(select(*_SNAPSHOT_COLUMNS).where(Video.id.in_(batch)))
                    found.update((row.id, VideoSnapshot(*row)) for row in rows)
                    renditions: dict[str, list[RenditionSnapshot]] = collections.defaultdict(list)
                    for row in await session.execute(
                        select(*_RENDITION_COLUMNS)
                        .outerjoin(
                            Asset,
                            and_(
                                Asset.video_id == Rendition.video_id,
                                Asset.kind == Rendition.kind,
                                Rendition.state == "READY",
                            ),
                        )
                        .where(Rendition.video_id.in_(batch))
                        .order_by(Rendition.video_id, Rendition.kind)
                    ):
                        renditions[row[0]].append(RenditionSnapshot(*row[1:]))
                    for video_id, rows_of_video in renditions.items():
                        if video_id in found:
                            found[video_id] = dataclasses.replace(found[video_id], renditions=tuple(rows_of_video))
        self.refreshes += 1
        for video_id in video_ids:
            streams = self._streams.get(video_id)
            if not streams:
                continue
            snapshot = found.get(video_id)  # None: the row is gone (purged)
            self._latest[video_id] = snapshot
            for stream in streams:
                stream.offer(snapshot)

    # ---- PostgreSQL LISTEN --------------------------------------------------------------------
    async def _listen(self) -> None:
        def connected(up: bool) -> None:
            if up:
                self.listening = True
                self.listens += 1
                self._mark({ANY_VIDEO})  # catch up on whatever changed while nobody listened
            else:
                self.listening = False
            self._wake.set()  # listening: stop polling; lost: the loop goes back to polling

        await listen_forever(
            self._listen_url,
            CHANNEL,
            LISTENER_APPLICATION_NAME,
            on_notify=lambda payload: self._mark({payload}),
            on_connection=connected,
            check_seconds=self.listen_check_seconds,
            poll_seconds=self.poll_seconds,
        )


def listen_url(engine: AsyncEngine, listen: bool) -> str | None:
    """Where listen_forever connects (asyncpg's URL of the engine's database): None unless
    LISTEN is wanted and the database is PostgreSQL."""
    if not listen or engine.dialect.name != "postgresql":
        return None
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_forever(
    url: str,
    channel: str,
    application_name: str,
    *,
    on_notify: Callable[[str], None],
    on_connection: Callable[[bool], None],
    check_seconds: float = 30.0,
    poll_seconds: float = 0.25,
) -> None:
    """LISTEN on one PostgreSQL channel until cancelled, on a connection of its own: deadlines on
    connecting and on the health check of a quiet connection, and reconnection with backoff.
    on_connection(True) after each (re)connection, so the caller catches up on what it may have
    missed; on_connection(False) when the connection is lost (the caller polls meanwhile)."""
    backoff = 0.5
    while True:
        connection = None
        listening = False
        try:
            async with asyncio.timeout(15):
                connection = await psycopg.AsyncConnection.connect(
                    url, autocommit=True, connect_timeout=10, application_name=application_name
                )
                await connection.execute(f"LISTEN {channel}")
            listening = True
            on_connection(True)
            backoff = 0.5
            while True:
                async for notification in connection.notifies(timeout=check_seconds):
                    on_notify(notification.payload)
                # A quiet spell: make sure the connection is still there.
                async with asyncio.timeout(10):
                    await connection.execute("SELECT 1")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if listening:
                log.warning(
                    "LISTEN %s connection lost (%s); polling every %g s until it is back", channel, exc, poll_seconds
                )
            else:
                log.warning("LISTEN %s connection failed (%s); polling, retrying in %g s", channel, exc, backoff)
        finally:
            if listening:
                on_connection(False)
            if connection is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(connection.close(), 5)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, 30.0)
