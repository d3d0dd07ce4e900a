"""The event feed: the outbox written with each lifecycle change, and WatchEvents through a real
catalog server, on SQLite and PostgreSQL (and a catalog process killed with kill -9)."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
import pytest
from sqlalchemy import select

from catalog_service import db, events
from catalog_service.catalog import Catalog, RenditionAsset
from catalog_service.chunk_rules import StoredChunk
from catalog_service.models import EventCursor, FeedEvent
from catalog_service.server import CatalogDeps, create_server
from catalog_service.settings import CatalogSettings
from catalog_service.statuses import READY
from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2 as R
from recorder_common.vocab import RenditionKind, RenditionState
from tests.conftest import AUTH, SteppedClock
from tests.process_stack import ProcessStack
from tests.videos import OWNER, make_ready, new_video, service


async def stored_events(catalog: Catalog) -> list[FeedEvent]:
    async with catalog.sessions() as session:
        return list((await session.execute(select(FeedEvent).order_by(FeedEvent.cursor))).scalars())


@pytest.fixture
async def served(database_url):
    """A real catalog gRPC server on port 0 and a stub for it."""
    await asyncio.to_thread(db.migrate, database_url)
    engine = db.create_engine(database_url)
    clock = SteppedClock()
    catalog = Catalog(db.session_factory(engine), clock=clock)
    server, port = await create_server(
        CatalogSettings(database_url=database_url, port=0, auth=AUTH, event_poll_seconds=0.05), CatalogDeps(catalog)
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield catalog, catalog_pb2_grpc.CatalogServiceStub(channel), clock
    await channel.close()
    await server.stop(2)
    await engine.dispose()


async def read(stub, after: int, count: int, types=()) -> list[catalog_pb2.FeedEvent]:
    """The next `count` events after a cursor, then the stream is dropped (a consumer going away)."""
    got = []
    call = stub.WatchEvents(
        catalog_pb2.WatchEventsRequest(after_cursor=after, types=types), metadata=service(), timeout=60
    )
    async for event in call:
        got.append(event)
        if len(got) == count:
            call.cancel()
            break
    return got


async def test_every_lifecycle_change_is_one_event_in_its_transaction(served):
    catalog, _stub, _clock = served
    ready, failed, deleted = await new_video(catalog), await new_video(catalog), await new_video(catalog)
    await make_ready(catalog, ready)
    await make_ready(catalog, failed, fail=True)
    await catalog.retry_processing(OWNER, failed)
    await catalog.mark_deleted(OWNER, deleted, abort_only=False)
    rows = await stored_events(catalog)
    assert [r.cursor for r in rows] == list(range(1, len(rows) + 1))
    by_video = {v: [r.type for r in rows if r.video_id == v] for v in (ready, failed, deleted)}
    assert by_video == {
        ready: ["video.created", "video.upload_completed", "video.ready"],
        failed: ["video.created", "video.upload_completed", "video.failed", "video.retried"],
        deleted: ["video.created", "video.deleted"],
    }
    ready_body = events.body(next(r for r in rows if r.type == "video.ready"))
    assert ready_body["assets"] == [
        {"kind": "COMPRESSED", "content_type": "video/mp4", "size_bytes": 1234},
        {"kind": "THUMBNAIL", "content_type": "image/jpeg", "size_bytes": 99},
    ]
    assert events.body(next(r for r in rows if r.type == "video.failed"))["error"] == "not a recording"
    assert len({r.event_id for r in rows}) == len(rows)

    # A refused change (a second FINISH) rolls back with no event.
    with pytest.raises(Exception):
        await catalog.finish_processing(OWNER, ready, "worker-1", READY, None, None)
    assert len(await stored_events(catalog)) == len(rows)


async def test_a_rendition_tells_the_feed_when_it_is_ready_or_failed_and_nothing_else(served):
    catalog, stub, _clock = served
    done, broken = await new_video(catalog), await new_video(catalog)
    for video_id in (done, broken):
        await make_ready(catalog, video_id)
    for _ in range(2):  # a claim, and a live encode given back to the queue, say nothing
        got = await catalog.claim_rendition("encoder", 60, RenditionKind.COMPRESSED)
        assert got.claimed
    await catalog.finish_rendition(
        OWNER, broken, RenditionKind.COMPRESSED, "encoder", RenditionState.PENDING, error="fell behind"
    )
    await catalog.finish_rendition(
        OWNER,
        done,
        RenditionKind.COMPRESSED,
        "encoder",
        RenditionState.READY,
        RenditionAsset(f"users/{OWNER}/videos/{done}/c.mp4", "video/mp4", 1234),
    )
    assert (await catalog.claim_rendition("encoder", 60, RenditionKind.COMPRESSED)).video_id == broken
    await catalog.finish_rendition(
        OWNER, broken, RenditionKind.COMPRESSED, "encoder", RenditionState.FAILED, error="x264 said no"
    )
    rows = [r for r in await stored_events(catalog) if r.type.startswith("rendition.")]
    assert [(r.type, r.video_id) for r in rows] == [("rendition.ready", done), ("rendition.failed", broken)]
    ready, failed = (events.body(r) for r in rows)
    assert ready["rendition"] == "COMPRESSED"
    assert ready["assets"] == [{"kind": "COMPRESSED", "content_type": "video/mp4", "size_bytes": 1234}]
    assert failed["rendition"] == "COMPRESSED" and failed["error"] == "x264 said no" and "assets" not in failed
    # WatchEvents carries the same, rendition kind included.
    streamed = await read(stub, rows[0].cursor - 1, 2, types=["rendition.ready", "rendition.failed"])
    assert [(e.type, e.rendition, e.error) for e in streamed] == [
        ("rendition.ready", R.RENDITION_KIND_COMPRESSED, ""),
        ("rendition.failed", R.RENDITION_KIND_COMPRESSED, "x264 said no"),
    ]


async def test_a_consumer_that_resumes_from_its_cursor_misses_none_and_sees_none_twice(served):
    catalog, stub, _clock = served
    made: list[str] = []

    async def writer(owner: str, n: int):
        for _ in range(n):
            video_id = await new_video(catalog, owner)
            made.append(video_id)
            await catalog.mark_deleted(owner, video_id, abort_only=len(made) % 2 == 0)

    writing = asyncio.gather(writer("alice", 15), writer("bob", 15), writer("carol", 15))
    seen: list[catalog_pb2.FeedEvent] = []
    cursor = 0
    # The consumer reads 5 events, goes away, comes back after its cursor, while writes go on
    # (90 events: 18 visits).
    while len(seen) < 90:
        batch = await asyncio.wait_for(read(stub, cursor, 5), 60)
        seen.extend(batch)
        cursor = batch[-1].cursor
    await writing
    stored = await stored_events(catalog)
    assert len(stored) == 90
    assert [e.cursor for e in seen] == [r.cursor for r in stored]  # none missed, none twice, in order
    assert [e.id for e in seen] == [r.event_id for r in stored]
    for video_id in made:  # per video: created, then deleted
        assert [e.type for e in seen if e.video_id == video_id] == ["video.created", "video.deleted"]


async def test_follows_live_and_filters_by_type(served):
    catalog, stub, _clock = served
    before = await new_video(catalog)
    head = (await stored_events(catalog))[-1].cursor
    live = asyncio.create_task(read(stub, head, 2, types=["video.ready"]))
    for _ in range(3):
        await new_video(catalog)  # not wanted by the filter
    first, second = await new_video(catalog), await new_video(catalog)
    await make_ready(catalog, first)
    await make_ready(catalog, second)
    got = await asyncio.wait_for(live, 30)
    assert [(e.type, e.video_id) for e in got] == [("video.ready", first), ("video.ready", second)]
    assert [a.size_bytes for a in got[0].assets] == [1234, 99]
    assert before not in {e.video_id for e in got}


async def test_bad_cursors_and_types_are_refused(served):
    catalog, stub, _clock = served
    await new_video(catalog)
    for request, code in (
        (catalog_pb2.WatchEventsRequest(after_cursor=-1), grpc.StatusCode.INVALID_ARGUMENT),
        (catalog_pb2.WatchEventsRequest(after_cursor=99), grpc.StatusCode.OUT_OF_RANGE),
        (catalog_pb2.WatchEventsRequest(types=["video.exploded"]), grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.WatchEvents(request, metadata=service(), timeout=10):
                pass
        assert caught.value.code() == code, caught.value.details()


async def test_retention_prunes_old_events_and_an_old_cursor_is_out_of_range(served):
    catalog, stub, clock = served
    for _ in range(3):
        await new_video(catalog)
    clock.advance(3600)
    kept = await new_video(catalog)
    assert await events.prune(catalog.sessions, clock(), retention_seconds=1800) == 3
    rows = await stored_events(catalog)
    assert [(r.cursor, r.video_id) for r in rows] == [(4, kept)]
    async with catalog.sessions() as session:
        assert (await session.execute(select(EventCursor.pruned_through))).scalar_one() == 3
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.WatchEvents(catalog_pb2.WatchEventsRequest(after_cursor=1), metadata=service(), timeout=10):
            pass
    assert caught.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert "pruned" in caught.value.details()
    assert [e.cursor for e in await read(stub, 0, 1)] == [4]  # 0: everything still kept
    assert [e.cursor for e in await read(stub, 3, 1)] == [4]  # the last pruned one is a fine cursor


async def test_kill9_of_the_catalog_between_a_change_and_the_read_loses_no_event(database_url, tmp_path):
    processes = ProcessStack(database_url, tmp_path, extra_env={"EVENT_POLL_SECONDS": "0.05"})
    processes.start("catalog")
    try:

        async def stub_call(fn):
            async with grpc.aio.insecure_channel(processes.target("catalog")) as channel:
                return await fn(catalog_pb2_grpc.CatalogServiceStub(channel))

        async def create(stub):
            return (
                await stub.CreateVideo(
                    catalog_pb2.CreateVideoRequest(title="t", content_type="video/webm"),
                    metadata=service(OWNER),
                    timeout=10,
                )
            ).video.video_id

        first = await stub_call(create)
        seen = await stub_call(lambda stub: read(stub, 0, 1))
        assert [(e.type, e.video_id) for e in seen] == [("video.created", first)]
        cursor = seen[-1].cursor

        # Changes acknowledged while the consumer is away, and more in flight when the catalog dies.
        acked: list[str] = []
        deleted = await stub_call(create)
        await stub_call(
            lambda stub: stub.MarkDeleted(
                catalog_pb2.MarkDeletedRequest(video_id=deleted), metadata=service(OWNER), timeout=10
            )
        )

        async def keep_creating(stub):
            with contextlib.suppress(grpc.aio.AioRpcError):
                while True:
                    acked.append(await create(stub))

        writer = asyncio.create_task(stub_call(keep_creating))

        async def some_acked():
            while len(acked) < 5:
                await asyncio.sleep(0.01)

        await asyncio.wait_for(some_acked(), 30)
        await asyncio.to_thread(processes.kill9, "catalog")
        await asyncio.wait_for(writer, 30)
        processes.start("catalog")

        async def read_all(stub):
            got = []
            call = stub.WatchEvents(catalog_pb2.WatchEventsRequest(after_cursor=cursor), metadata=service(), timeout=60)
            async for event in call:
                got.append(event)
                if event.type == "video.created" and event.video_id == acked[-1]:
                    call.cancel()
                    break
            return got

        after = await asyncio.wait_for(stub_call(read_all), 60)
        expected = [("video.created", deleted), ("video.deleted", deleted)] + [("video.created", v) for v in acked]
        got = [(e.type, e.video_id) for e in after]
        # Every acknowledged change is there once, in order; a create the kill cut off after its
        # commit but before its answer may sit between them, never twice.
        assert [g for g in got if g in expected] == expected
        assert len(set(e.cursor for e in after)) == len(after)
        assert [e.cursor for e in after] == sorted(e.cursor for e in after)
        assert after[0].cursor == cursor + 1
    finally:
        processes.stop_all()


async def test_a_stream_follows_what_another_replica_commits(database_url):
    """On PostgreSQL the stream's replica never polls within the test's bounds, so only the
    events NOTIFY can bring another replica's commits; on SQLite the head poll does."""
    await asyncio.to_thread(db.migrate, database_url)
    postgres = database_url.startswith("postgresql")
    reader_engine, writer_engine = db.create_engine(database_url), db.create_engine(database_url)
    reader = Catalog(db.session_factory(reader_engine))
    writer = Catalog(db.session_factory(writer_engine))
    server, port = await create_server(
        CatalogSettings(database_url=database_url, port=0, auth=AUTH, event_poll_seconds=3600.0 if postgres else 0.05),
        CatalogDeps(reader),
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = catalog_pb2_grpc.CatalogServiceStub(channel)
            first = await new_video(writer)
            got: list[catalog_pb2.FeedEvent] = []
            caught_up = asyncio.Event()

            async def follow():
                call = stub.WatchEvents(catalog_pb2.WatchEventsRequest(), metadata=service(), timeout=60)
                async for event in call:
                    got.append(event)
                    caught_up.set()
                    if len(got) == 3:
                        call.cancel()
                        return

            live = asyncio.create_task(follow())
            await asyncio.wait_for(caught_up.wait(), 30)
            [feed] = list(events._LOCAL_FEEDS[reader_engine.sync_engine])

            async def listening():
                while postgres and not feed.listening:
                    await asyncio.sleep(0.01)

            await asyncio.wait_for(listening(), 30)
            second = await new_video(writer)
            await writer.mark_deleted(OWNER, second, abort_only=True)
            await asyncio.wait_for(live, 30)
        assert [(e.type, e.video_id) for e in got] == [
            ("video.created", first),
            ("video.created", second),
            ("video.deleted", second),
        ]
        if postgres:
            assert feed.notified >= 1  # the head came by NOTIFY
    finally:
        await server.stop(2)
        await reader_engine.dispose()
        await writer_engine.dispose()


async def test_the_catalog_background_prunes_and_counts_the_backlog(served):
    from prometheus_client import REGISTRY

    from catalog_service.background import CatalogBackground

    catalog, _stub, clock = served
    old = await new_video(catalog)
    await catalog.record_chunks(OWNER, old, [StoredChunk(0, 10, 1, True, "t0")])  # waits for a worker
    clock.advance(7200)
    await new_video(catalog)
    background = CatalogBackground(catalog, CatalogSettings(event_retention_seconds=3600))
    background.start()
    try:

        async def pruned():
            while len(await stored_events(catalog)) != 1:  # the three events 2 h old go
                await asyncio.sleep(0.02)

        await asyncio.wait_for(pruned(), 30)

        async def counted():
            while REGISTRY.get_sample_value("recorder_processing_backlog") != 1:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(counted(), 30)
    finally:
        await background.stop()
    assert [r.type for r in await stored_events(catalog)] == ["video.created"]
