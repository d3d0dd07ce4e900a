"""WatchVideo fan-out: one watcher loop per catalog process, on real SQLite and PostgreSQL, through
a real catalog gRPC server where the behaviour is the client's."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from sqlalchemy import event, text, update

from catalog_service import db
from catalog_service.catalog import Catalog, RenditionAsset
from catalog_service.models import Video
from catalog_service.server import CatalogDeps, create_server
from catalog_service.settings import CatalogSettings
from catalog_service.watch_hub import LISTENER_APPLICATION_NAME, WatchHub, _ids_in_where
from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2 as pb
from recorder_common.errors import NotFound, Reason, reason_of
from recorder_common.vocab import RenditionKind, RenditionState, Step, VideoStatus
from tests.helpers import TEST_KEYS, user

AUTH = TEST_KEYS.auth_settings()
ALICE, BOB = user("alice"), user("bob")


async def until(condition, what: str, timeout: float = 30.0) -> None:
    """Wait for a condition, with a generous bound (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still waiting after {timeout} s for {what}"
        await asyncio.sleep(0.01)


class CatalogUnderTest:
    def __init__(self, catalog: Catalog, port: int) -> None:
        self.catalog = catalog
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self.stub = catalog_pb2_grpc.CatalogServiceStub(self.channel)


@pytest.fixture
async def serve(database_url):
    """Start a real catalog server with the given settings (once per test)."""
    await asyncio.to_thread(db.migrate, database_url)
    engine = db.create_engine(database_url)
    started = []

    async def start(**settings) -> CatalogUnderTest:
        catalog = Catalog(db.session_factory(engine))
        server, port = await create_server(
            CatalogSettings(database_url=database_url, port=0, auth=AUTH, **settings), CatalogDeps(catalog)
        )
        await server.start()
        started.append((server, CatalogUnderTest(catalog, port)))
        return started[-1][1]

    yield start
    for server, under_test in started:
        await under_test.channel.close()
        await server.stop(2)
    await engine.dispose()


@pytest.fixture
async def served(serve):
    return await serve()


async def new_video(catalog: Catalog, owner: str = "alice") -> str:
    return (await catalog.create_video(owner, "demo", "demo.webm", "video/webm", 0)).id


def collect(stub, video_id: str, md=ALICE, into: list | None = None):
    """Read a watch stream into a list in the background; the task ends with the stream."""
    updates = [] if into is None else into

    async def read():
        async for update_ in stub.WatchVideo(
            catalog_pb2.WatchVideoRequest(video_id=video_id), metadata=md, timeout=120
        ):
            updates.append(
                (
                    update_.status,
                    update_.step,
                    round(update_.progress, 3),
                    tuple(
                        (pb.RenditionState.Name(r.state).removeprefix("RENDITION_STATE_"), round(r.progress, 3))
                        for r in update_.renditions
                    ),
                )
            )
        return updates

    return updates, asyncio.ensure_future(read())


def as_tuple(
    status: str,
    step: str | None = None,
    progress: float = 0.0,
    compressed=("PENDING", 0.0),
    storyboard=("PENDING", 0.0),
):
    """What a watcher sees: the video's status, step and progress, and its renditions in kind
    order (compressed, storyboard)."""
    return VideoStatus.proto_of(status), Step.proto_of(step or None), progress, (compressed, storyboard)


# The changes a video goes through, each with what a watcher sees after it.
async def _upload(c: Catalog, vid: str):
    await c.record_chunk("alice", vid, 0, 10, 0, is_last=True)


async def _claim(c: Catalog, vid: str):
    assert (await c.claim_processing("alice", vid, "worker-1", 60))[0]


async def _probe(c: Catalog, vid: str):
    await c.report_progress("alice", vid, "worker-1", "PROBE", 0.5, 60)


async def _compress(c: Catalog, vid: str):
    await c.report_progress("alice", vid, "worker-1", "COMPRESS", 0.25, 60)


async def _ready(c: Catalog, vid: str):
    await c.finish_processing("alice", vid, "worker-1", "READY", None, None)


async def _claim_rendition(c: Catalog, vid: str, kind: RenditionKind, worker: str) -> None:
    claim = await c.claim_rendition(worker, 60, kind)
    assert claim.claimed and claim.video_id == vid


async def _finish_rendition(c: Catalog, vid: str, kind: RenditionKind, worker: str, asset: RenditionAsset) -> None:
    await c.finish_rendition("alice", vid, kind, worker, RenditionState.READY, asset)


async def _encode(c: Catalog, vid: str):
    await _claim_rendition(c, vid, RenditionKind.COMPRESSED, "encoder-1")


async def _encode_progress(c: Catalog, vid: str):
    await c.report_rendition_progress("alice", vid, RenditionKind.COMPRESSED, "encoder-1", 0.5, 60)


async def _encoded(c: Catalog, vid: str):
    asset = RenditionAsset("users/alice/videos/x/compressed.mp4", "video/mp4", 10)
    await _finish_rendition(c, vid, RenditionKind.COMPRESSED, "encoder-1", asset)


async def _storyboard(c: Catalog, vid: str):
    await _claim_rendition(c, vid, RenditionKind.STORYBOARD, "storyboarder-1")


async def _storyboarded(c: Catalog, vid: str):
    asset = RenditionAsset("users/alice/videos/x/storyboard.jpg", "image/jpeg", 10)
    await _finish_rendition(c, vid, RenditionKind.STORYBOARD, "storyboarder-1", asset)


# READY (watchable) comes first; the stream goes on with the renditions (compressed, storyboard)
# and ends when they are done: rendition changes wake the watchers like status changes.
LIFE = [
    (_upload, as_tuple("UPLOADED")),
    (_claim, as_tuple("PROCESSING", "ASSEMBLE")),
    (_probe, as_tuple("PROCESSING", "PROBE", 0.5)),
    (_compress, as_tuple("PROCESSING", "COMPRESS", 0.25)),
    (_ready, as_tuple("READY", progress=1.0)),
    (_encode, as_tuple("READY", progress=1.0, compressed=("PROCESSING", 0.0))),
    (_encode_progress, as_tuple("READY", progress=1.0, compressed=("PROCESSING", 0.5))),
    (_encoded, as_tuple("READY", progress=1.0, compressed=("READY", 1.0))),
    (_storyboard, as_tuple("READY", progress=1.0, compressed=("READY", 1.0), storyboard=("PROCESSING", 0.0))),
    (_storyboarded, as_tuple("READY", progress=1.0, compressed=("READY", 1.0), storyboard=("READY", 1.0))),
]


async def test_many_watchers_of_one_video_all_see_every_change_in_order(serve):
    served = await serve(max_watch_streams_per_user=64)  # 25 tabs of one user watching
    vid = await new_video(served.catalog)
    streams = [collect(served.stub, vid) for _ in range(25)]
    expected = [as_tuple("UPLOADING")]
    await until(lambda: all(len(u) == 1 for u, _ in streams), "every watcher's first message")
    for change, seen in LIFE:
        await change(served.catalog, vid)
        expected.append(seen)
        await until(lambda: all(len(u) >= len(expected) for u, _ in streams), f"every watcher to see {seen}")
    results = await asyncio.wait_for(asyncio.gather(*(task for _, task in streams)), 30)
    assert all(r == expected for r in results), results[0]  # and the streams ended at READY


async def test_a_burst_of_changes_reaches_watchers_in_order_and_ends_at_the_final_status(served):
    vid = await new_video(served.catalog)
    streams = [collect(served.stub, vid) for _ in range(10)]
    await until(lambda: all(u for u, _ in streams), "every watcher's first message")
    for change, _ in LIFE:  # no waiting in between: the hub may see several changes at once
        await change(served.catalog, vid)
    order = [as_tuple("UPLOADING")] + [seen for _, seen in LIFE]
    for result in await asyncio.wait_for(asyncio.gather(*(task for _, task in streams)), 30):
        positions = [order.index(u) for u in result]
        assert positions == sorted(set(positions)) and result[-1] == LIFE[-1][1], result


async def test_another_users_video_is_not_found_like_a_missing_one(served):
    vid = await new_video(served.catalog)
    with pytest.raises(grpc.aio.AioRpcError) as theirs:
        await collect(served.stub, vid, md=BOB)[1]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await collect(served.stub, "0" * 32, md=BOB)[1]  # well formed, no such video
    assert theirs.value.code() == missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert theirs.value.details() == f"video {vid} not found"
    # Alice watching at the same time changes nothing for Bob, and his refusal nothing for her.
    alice, task = collect(served.stub, vid)
    await until(lambda: alice, "alice's first message")
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await collect(served.stub, vid, md=BOB)[1]
    assert again.value.code() == grpc.StatusCode.NOT_FOUND
    await served.catalog.mark_deleted("alice", vid, abort_only=False)
    assert await asyncio.wait_for(task, 30) == [as_tuple("UPLOADING"), as_tuple("DELETED")]
    with pytest.raises(grpc.aio.AioRpcError) as deleted:
        await collect(served.stub, vid)[1]
    assert deleted.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_malformed_video_id_is_invalid_argument(served):
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await collect(served.stub, "../../etc/passwd")[1]
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


DEFAULT_WATCH_CAP = 16  # MAX_WATCH_STREAMS_PER_USER's default


async def open_up_to_the_cap(served, cap: int) -> tuple[list[str], list]:
    """cap streams of alice's, each of a new video and started; then one more is refused."""
    vids = [await new_video(served.catalog) for _ in range(cap)]
    streams = [collect(served.stub, v) for v in vids]
    await until(lambda: all(u for u, _ in streams), "alice's streams to start")
    with pytest.raises(grpc.aio.AioRpcError) as capped:
        await asyncio.wait_for(collect(served.stub, vids[0])[1], 30)
    assert capped.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(capped.value) == Reason.TOO_MANY_WATCH_STREAMS
    return vids, streams


async def test_open_watch_streams_per_user_are_capped_and_freed_when_a_client_leaves(served):
    vids, streams = await open_up_to_the_cap(served, DEFAULT_WATCH_CAP)
    bob_vid = await new_video(served.catalog, owner="bob")
    bob, bob_task = collect(served.stub, bob_vid, md=BOB)  # the cap is per user
    await until(lambda: bob, "bob's stream")
    streams[0][1].cancel()  # alice closes one: its slot comes back once the server notices
    opened: list = []
    deadline = time.monotonic() + 30
    while not opened:
        assert time.monotonic() < deadline, "the cancelled stream's slot never came back"
        updates, task = collect(served.stub, vids[0])
        await until(lambda: updates or task.done(), "the new stream to start or be refused")
        if updates:
            opened.append(task)
        else:
            assert task.exception().code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            await asyncio.sleep(0.05)
    for task in [t for _, t in streams[1:]] + opened + [bob_task]:
        task.cancel()
    await asyncio.gather(*[t for _, t in streams] + opened + [bob_task], return_exceptions=True)


@pytest.mark.parametrize("cap", [3])
async def test_the_cap_is_a_setting(serve, cap):
    served = await serve(max_watch_streams_per_user=cap)
    _, streams = await open_up_to_the_cap(served, cap)
    for _, task in streams:
        task.cancel()
    await asyncio.gather(*[t for _, t in streams], return_exceptions=True)


async def test_a_stream_ends_at_its_lifetime_with_an_actionable_status(serve):
    served = await serve(watch_max_seconds=3.0)  # long enough for the first state on a busy machine
    vid = await new_video(served.catalog)
    updates, task = collect(served.stub, vid)
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await asyncio.wait_for(task, 30)
    assert updates == [as_tuple("UPLOADING")]
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "still UPLOADING" in ended.value.details() and "watch again" in ended.value.details()


async def _watch_into(hub: WatchHub, owner: str, vid: str, into: list) -> None:
    async for snapshot in hub.watch(owner, vid):
        into.append((snapshot.status, snapshot.current_step, round(snapshot.progress, 3)))


@contextlib.asynccontextmanager
async def watcher(hub: WatchHub, vid: str, owner: str = "alice") -> AsyncIterator[tuple[list, asyncio.Future]]:
    """One watcher of vid, what it has seen (once the first state is there) and its task;
    cancelled on the way out (a no-op when the stream has ended)."""
    seen: list = []
    task = asyncio.ensure_future(_watch_into(hub, owner, vid, seen))
    try:
        await until(lambda: seen, "the first state")
        yield seen, task
    finally:
        task.cancel()


async def test_the_database_is_read_once_per_tick_whatever_the_number_of_watchers(database_url):
    await asyncio.to_thread(db.migrate, database_url)
    hub_engine, writer_engine = db.create_engine(database_url), db.create_engine(database_url)
    statements: list[str] = []

    @event.listens_for(hub_engine.sync_engine, "before_cursor_execute")
    def count(_conn, _cursor, statement, *_):
        if "FROM videos" in statement:
            statements.append(statement)

    # The shared poll on both databases (no LISTEN), so every tick reads every watched video.
    hub = WatchHub(db.session_factory(hub_engine), poll_seconds=0.02, listen=False, max_streams_per_user=1000)
    writer = Catalog(db.session_factory(writer_engine))
    vids = [await new_video(writer) for _ in range(5)]
    try:
        per_tick = []
        for watchers in (1, 200):
            seen = [[] for _ in range(watchers)]
            tasks = [asyncio.ensure_future(_watch_into(hub, "alice", vids[i % 5], seen[i])) for i in range(watchers)]
            await until(lambda: all(seen), "every watcher's first state")
            statements.clear()
            first = hub.refreshes
            await until(lambda: hub.refreshes >= first + 10, "ten poll ticks")
            ticks, read = hub.refreshes - first, len(statements)
            per_tick.append(read / ticks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        # One statement per tick (a tick's count may be cut between two ticks by the measurement).
        assert per_tick[0] <= 1.1 and per_tick[1] <= 1.1, per_tick

        # And every one of 200 watchers of another engine's (process's) change hears of it.
        seen = [[] for _ in range(200)]
        tasks = [asyncio.ensure_future(_watch_into(hub, "alice", vids[0], s)) for s in seen]
        await until(lambda: all(seen), "every watcher's first state")
        await _upload(writer, vids[0])
        await until(lambda: all(len(s) == 2 for s in seen), "every watcher to see UPLOADED")
        assert all(s == [("UPLOADING", None, 0.0), ("UPLOADED", None, 0.0)] for s in seen)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await hub.aclose()
        await hub_engine.dispose()
        await writer_engine.dispose()


async def test_a_change_made_by_a_second_catalog_process_reaches_a_watcher(database_url):
    """Two Catalogs on two engines (two processes on one database). On PostgreSQL the watcher's
    hub never polls, so only LISTEN/NOTIFY can bring the changes; on SQLite the shared poll does."""
    await asyncio.to_thread(db.migrate, database_url)
    first_engine, second_engine = db.create_engine(database_url), db.create_engine(database_url)
    postgres = first_engine.dialect.name == "postgresql"
    hub = WatchHub(db.session_factory(first_engine), poll_seconds=3600.0 if postgres else 0.05)
    second = Catalog(db.session_factory(second_engine))
    vid = await new_video(second)
    try:
        async with watcher(hub, vid) as (seen, task):
            if postgres:
                await until(lambda: hub.listening, "the hub's LISTEN connection")
            expected = [("UPLOADING", None, 0.0)]
            for change, _ in LIFE:
                await change(second, vid)
                expected.append(None)
                await until(lambda: len(seen) >= len(expected), f"the change after {seen[-1]}")
            await asyncio.wait_for(task, 30)
            assert seen == [
                ("UPLOADING", None, 0.0),
                ("UPLOADED", None, 0.0),
                ("PROCESSING", "ASSEMBLE", 0.0),
                ("PROCESSING", "PROBE", 0.5),
                ("PROCESSING", "COMPRESS", 0.25),
                ("READY", None, 1.0),
                ("READY", None, 1.0),
                ("READY", None, 1.0),
                ("READY", None, 1.0),
                ("READY", None, 1.0),
                ("READY", None, 1.0),
            ]  # then the renditions' changes
    finally:
        await hub.aclose()
        await first_engine.dispose()
        await second_engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # LISTEN/NOTIFY is PostgreSQL's
async def test_a_lost_listen_connection_is_made_again_and_nothing_is_missed(database_url):
    await asyncio.to_thread(db.migrate, database_url)
    first_engine, second_engine = db.create_engine(database_url), db.create_engine(database_url)
    hub = WatchHub(db.session_factory(first_engine), poll_seconds=3600.0)  # no poll to fall back on
    second = Catalog(db.session_factory(second_engine))
    vid = await new_video(second)
    try:
        async with watcher(hub, vid) as (seen, _):
            await until(lambda: hub.listening, "the LISTEN connection")
            async with second_engine.connect() as conn:  # the database drops the hub's connection
                killed = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = :name AND datname = current_database()) AS t"
                        ),
                        {"name": LISTENER_APPLICATION_NAME},
                    )
                ).scalar_one()
            assert killed == 1
            await _upload(second, vid)  # while the hub may still be reconnecting
            await until(lambda: hub.listens >= 2, "the LISTEN connection to be made again", timeout=60)
            await until(lambda: len(seen) == 2, "the change made while reconnecting")
            await _claim(second, vid)  # and changes after the reconnect arrive by NOTIFY again
            await until(lambda: len(seen) == 3, "the change after the reconnect")
            assert [s[0] for s in seen] == ["UPLOADING", "UPLOADED", "PROCESSING"]
    finally:
        await hub.aclose()
        await first_engine.dispose()
        await second_engine.dispose()


async def test_a_commit_in_this_process_wakes_watchers_without_waiting_for_a_poll(catalog):
    # No poll within the test's bounds and no LISTEN: only the session listener can wake the hub.
    hub = WatchHub(catalog.sessions, poll_seconds=3600.0, listen=False)
    vid = await new_video(catalog)
    try:
        async with watcher(hub, vid) as (seen, task):
            await _upload(catalog, vid)  # the ORM's dirty tracking (chunk recorder)
            await until(lambda: len(seen) == 2, "UPLOADED")
            await _claim(catalog, vid)  # an update(Video) statement
            await until(lambda: len(seen) == 3, "PROCESSING")
            async with catalog.sessions() as session:  # a change that rolls back
                await session.execute(update(Video).where(Video.id == vid).values(status="FAILED"))
                await session.rollback()
            await _ready(catalog, vid)
            await until(lambda: len(seen) == 4, "READY")
            await _encode(catalog, vid)  # rendition rows: an update(Rendition) and ORM changes
            await until(lambda: len(seen) == 5, "the rendition's claim")
            await _encode_progress(catalog, vid)
            await until(lambda: len(seen) == 6, "the rendition's progress")
            await _encoded(catalog, vid)
            await until(lambda: len(seen) == 7, "the rendition's end")
            await _storyboard(catalog, vid)
            await until(lambda: len(seen) == 8, "the storyboard's claim")
            await _storyboarded(catalog, vid)
            await asyncio.wait_for(task, 30)
            assert [s[0] for s in seen] == ["UPLOADING", "UPLOADED", "PROCESSING"] + ["READY"] * 6
    finally:
        await hub.aclose()


async def test_a_deleted_video_ends_its_watchers_and_stays_not_found_to_others(catalog):
    hub = WatchHub(catalog.sessions, poll_seconds=3600.0, listen=False)
    vid = await new_video(catalog)
    async with watcher(hub, vid) as (seen, task):
        other: list = []
        with pytest.raises(NotFound):  # bob, while alice watches (her state is cached by then)
            await _watch_into(hub, "bob", vid, other)
        await catalog.mark_deleted("alice", vid, abort_only=False)
        await asyncio.wait_for(task, 30)
        assert [s[0] for s in seen] == ["UPLOADING", "DELETED"]
    await hub.aclose()


def test_the_ids_a_statement_pins_are_found_in_its_where_clause():
    assert _ids_in_where(update(Video).where(Video.id == "v1", Video.owner_id == "a").whereclause) == {"v1"}
    assert _ids_in_where(update(Video).where(Video.id.in_(["v1", "v2"])).whereclause) == {"v1", "v2"}
    assert _ids_in_where(update(Video).where(Video.status == "UPLOADED").whereclause) == set()
    assert _ids_in_where(None) == set()
