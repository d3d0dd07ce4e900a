"""The catalog's lifecycle and per-owner limits on real SQLite and PostgreSQL: status changes with
their history in one transaction, the "in this status since" clocks, housekeeping, the caps,
outputs charged to the quota, and the fair order of processing jobs."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from alembic import command
from sqlalchemy import create_engine, event, text

from catalog_service import db
from catalog_service.catalog import Catalog, MediaInfo, StoredChunk
from catalog_service.server import CatalogDeps, create_server as create_catalog_server
from catalog_service.settings import CatalogLimits, CatalogSettings
from ingest_service.settings import IngestSettings
from ingest_service.wiring import build as build_ingest
from recorder_common.errors import FailedPrecondition, NotFound, ResourceExhausted
from recorder_common.storage import StorageSettings
from recorder_common.vocab import VideoRef
from tests.conftest import AUTH
from tests.helpers import CommitCounter

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.timezone.utc)


class Clock:
    """The catalog's injectable clock, moved by hand."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def catalog_with(catalog: Catalog, clock: Clock, **limits) -> Catalog:
    return Catalog(catalog.sessions, clock=clock, limits=CatalogLimits(**limits))


async def uploaded(catalog: Catalog, owner: str = "alice", size: int = 10) -> str:
    vid = (await catalog.create_video(owner, "t", "f.webm", "video/webm", 0)).id
    record = await catalog.record_chunk(owner, vid, 0, size, 0, is_last=True)
    assert record.completed_upload
    return vid


async def ready(catalog: Catalog, owner: str = "alice") -> str:
    vid = await uploaded(catalog, owner)
    claimed, _ = await catalog.claim_processing(owner, vid, "w", 60)
    assert claimed
    await catalog.finish_processing(owner, vid, "w", "READY", None, None)
    return vid


async def failed(catalog: Catalog, vid: str, owner: str = "alice") -> None:
    claimed, _ = await catalog.claim_processing(owner, vid, "w", 60)
    assert claimed
    await catalog.finish_processing(owner, vid, "w", "FAILED", "PROBE", "not a recording")


# ---- one transaction per status change ------------------------------------------------------------
async def test_finish_writes_the_status_and_its_history_in_one_transaction(catalog):
    """If the history row cannot be written, the status does not change either."""
    vid = await uploaded(catalog)
    assert (await catalog.claim_processing("alice", vid, "w", 60))[0]
    engine = catalog.sessions.kw["bind"].sync_engine

    def break_history(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO STATUS_EVENTS"):
            raise RuntimeError("history write failed")

    event.listen(engine, "before_cursor_execute", break_history)
    try:
        with pytest.raises(Exception, match="history write failed"):
            await catalog.finish_processing("alice", vid, "w", "READY", None, None)
    finally:
        event.remove(engine, "before_cursor_execute", break_history)
    video = await catalog.get_video("alice", vid)
    assert (video.status, video.lease_owner) == ("PROCESSING", "w")  # still the worker's job
    assert [e.status for e in video.events][-1] == "PROCESSING"
    counter = CommitCounter(catalog)
    try:
        done = await catalog.finish_processing("alice", vid, "w", "READY", None, None)
    finally:
        counter.close()
    assert counter.commits == 1
    assert (done.status, done.events[-1].status, done.lease_owner) == ("READY", "READY", None)


async def test_every_status_change_leaves_its_history_row(catalog, clock):
    catalog = catalog_with(catalog, clock)
    vid = await uploaded(catalog)
    await failed(catalog, vid)
    await catalog.retry_processing("alice", vid)
    await catalog.mark_deleted("alice", vid, abort_only=False)
    expiring = (await catalog.create_video("alice", "t", "f.webm", "video/webm", 0)).id
    clock.advance(hours=2)
    assert await catalog.expire_stale_uploads(3600, 10) == [VideoRef("alice", expiring)]
    assert [e.status for e in (await catalog.get_video("alice", expiring)).events] == ["UPLOADING", "EXPIRED"]
    async with catalog.sessions() as session:
        history = (
            (
                await session.execute(
                    text("SELECT status FROM status_events WHERE video_id = :v ORDER BY id"), {"v": vid}
                )
            )
            .scalars()
            .all()
        )
    assert history == ["UPLOADING", "UPLOADED", "PROCESSING", "FAILED", "UPLOADED", "DELETED"]


async def test_refused_transitions_are_failed_preconditions_that_say_what_to_do(catalog):
    vid = await uploaded(catalog)
    with pytest.raises(FailedPrecondition, match="only a FAILED video can be processed again"):
        await catalog.retry_processing("alice", vid)
    with pytest.raises(FailedPrecondition, match="no upload to abort .delete the video instead"):
        await catalog.mark_deleted("alice", vid, abort_only=True)
    assert (await catalog.get_video("alice", vid)).status == "UPLOADED"


# ---- "in this status since" clocks ----------------------------------------------------------------
async def test_later_writes_to_a_ready_video_do_not_move_its_chunk_cleanup_clock(catalog, clock):
    """On-demand outputs (put_asset), media facts and a stray progress report written after READY
    lock the row, but the video has been READY since it became READY."""
    catalog = catalog_with(catalog, clock)
    vid = await ready(catalog)
    clock.advance(minutes=50)
    await catalog.put_asset("alice", vid, "AUDIO_MP3", f"users/alice/videos/{vid}/audio.mp3", "audio/mpeg", 5)
    await catalog.set_media_info("alice", vid, MediaInfo(duration_seconds=3.0))
    with pytest.raises(FailedPrecondition, match="lease"):
        await catalog.report_progress("alice", vid, "w", "COMPRESS", 0.5, 60)
    clock.advance(minutes=9)
    assert await catalog.list_ready_with_chunks(3600, 10) == []  # READY for 59 minutes
    clock.advance(minutes=2)
    assert await catalog.list_ready_with_chunks(3600, 10) == [VideoRef("alice", vid)]


async def test_late_writes_to_a_deleted_video_do_not_move_its_purge_clock(catalog, clock):
    catalog = catalog_with(catalog, clock)
    vid = await ready(catalog)
    await catalog.mark_deleted("alice", vid, abort_only=False)
    clock.advance(minutes=50)
    await catalog.set_media_info("alice", vid, MediaInfo(width=640))  # a media worker that was slow
    with pytest.raises(NotFound):
        await catalog.put_asset("alice", vid, "THUMBNAIL", f"users/alice/videos/{vid}/t.jpg", "image/jpeg", 5)
    clock.advance(minutes=9)
    assert await catalog.list_deleted(3600, 10) == []
    clock.advance(minutes=2)
    assert await catalog.list_deleted(3600, 10) == [VideoRef("alice", vid)]


def test_migration_0003_starts_existing_videos_clocks_at_updated_at(database_url):
    config = db.alembic_config(database_url)
    db._ensure_sqlite_dir(database_url)
    command.upgrade(config, "0002")
    engine = create_engine(db.sync_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO videos (id, owner_id, title, filename, content_type, status, received_chunks, "
                    "received_bytes, progress, processing_attempts, created_at, updated_at) VALUES "
                    "('v1', 'alice', '', '', 'video/webm', 'READY', 1, 1, 1.0, 1, :created, :updated)"
                ),
                {"created": T0, "updated": T0 + dt.timedelta(minutes=7)},
            )
        command.upgrade(config, "head")
        with engine.connect() as conn:
            changed, retries = conn.execute(
                text("SELECT status_changed_at, processing_retries FROM videos WHERE id = 'v1'")
            ).one()
        if isinstance(changed, str):  # SQLite hands back text
            changed = dt.datetime.fromisoformat(changed)
        assert changed.replace(tzinfo=None) == (T0 + dt.timedelta(minutes=7)).replace(tzinfo=None)
        assert retries == 0
        command.downgrade(config, "0002")
        command.upgrade(config, "head")
    finally:
        engine.dispose()


# ---- housekeeping -----------------------------------------------------------------------------------
async def exhausted(catalog: Catalog, clock: Clock, owner: str = "alice") -> str:
    """A job whose worker died three times (each lease of 60 s lapsed)."""
    vid = await uploaded(catalog, owner)
    for attempt in range(3):
        assert (await catalog.claim_processing(owner, vid, f"w{attempt}", 60))[0]
        clock.advance(minutes=5)
    return vid


async def test_listing_pending_jobs_changes_nothing_and_housekeeping_fails_the_exhausted(catalog, clock):
    catalog = catalog_with(catalog, clock)
    vid = await exhausted(catalog, clock)
    waiting = await uploaded(catalog, "bob")
    counter = CommitCounter(catalog)
    try:
        assert await catalog.list_pending_processing(10) == [VideoRef("bob", waiting)]
    finally:
        counter.close()
    assert counter.commits == 0
    assert (await catalog.get_video("alice", vid)).status == "PROCESSING"
    assert await catalog.fail_exhausted_jobs(10) == [VideoRef("alice", vid)]
    video = await catalog.get_video("alice", vid)
    assert (video.status, video.error_step, video.lease_owner) == ("FAILED", "ASSEMBLE", None)
    assert "interrupted 3 times" in video.error and video.events[-1].status == "FAILED"
    assert await catalog.fail_exhausted_jobs(10) == []
    await catalog.retry_processing("alice", vid)  # the owner may start it again
    assert (await catalog.claim_processing("alice", vid, "w9", 60))[0]


async def test_the_janitor_fails_exhausted_jobs_over_grpc(database_url, tmp_path):
    await asyncio.to_thread(db.migrate, database_url)
    engine = db.create_engine(database_url)
    past = Clock(dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    setup = Catalog(db.session_factory(engine), clock=past)
    server, port = await create_catalog_server(
        CatalogSettings(database_url=database_url, port=0, auth=AUTH), CatalogDeps(Catalog(db.session_factory(engine)))
    )
    await server.start()
    ingest = build_ingest(
        IngestSettings(
            storage=StorageSettings(root=str(tmp_path / "storage")),
            port=0,
            auth=AUTH,
            catalog_target=f"127.0.0.1:{port}",
            media_target="127.0.0.1:1",
        )
    )
    try:
        vid = await exhausted(setup, past)
        report = await ingest.janitor.run_once()
        assert report.jobs_failed == 1
        assert (await setup.get_video("alice", vid)).status == "FAILED"
        assert (await ingest.janitor.run_once()).jobs_failed == 0
    finally:
        await ingest.close()
        await server.stop(2)
        await engine.dispose()


# ---- caps -----------------------------------------------------------------------------------------
async def test_owner_retries_are_capped_per_video(catalog, clock):
    catalog = catalog_with(catalog, clock, max_processing_retries=2)
    vid = await uploaded(catalog)
    await failed(catalog, vid)
    for retry in (1, 2):
        video = await catalog.retry_processing("alice", vid)
        assert (video.status, video.processing_retries, video.processing_attempts) == ("UPLOADED", retry, 0)
        assert video.events[-1].message == f"processing retried by the owner ({retry} of 2)"
        await failed(catalog, vid)
    with pytest.raises(ResourceExhausted, match=r"retried 2 times already \(at most 2\); upload the recording"):
        await catalog.retry_processing("alice", vid)
    assert (await catalog.get_video("alice", vid)).status == "FAILED"


async def test_open_uploads_are_capped_per_user(catalog, clock):
    catalog = catalog_with(catalog, clock, max_open_uploads_per_user=3)
    results = await asyncio.gather(
        *[catalog.create_video("alice", "t", "f.webm", "video/webm", 0) for _ in range(6)], return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 3 and all(isinstance(r, ResourceExhausted) for r in refused)
    assert "you have 3 uploads in progress (at most 3 at once); finish or abort one" in refused[0].message
    await catalog.create_video("bob", "t", "f.webm", "video/webm", 0)  # another user is not affected
    first = next(r for r in results if not isinstance(r, Exception))
    await catalog.mark_deleted("alice", first.id, abort_only=True)
    await catalog.create_video("alice", "t", "f.webm", "video/webm", 0)


async def test_outputs_are_charged_to_the_quota_with_the_uploads(catalog, clock):
    catalog = catalog_with(catalog, clock, user_quota_bytes=1000)
    vid = await uploaded(catalog, size=400)
    key = f"users/alice/videos/{vid}/"
    await catalog.put_asset("alice", vid, "SOURCE", key + "source.webm", "video/webm", 400)  # the upload's bytes
    await catalog.put_asset("alice", vid, "ORIGINAL", key + "original.webm", "video/webm", 300)
    with pytest.raises(
        ResourceExhausted,
        match=r"quota of 1000 bytes is used up \(700 bytes stored; this "
        r"compressed output needs 400 more\)",
    ):
        await catalog.put_asset("alice", vid, "COMPRESSED", key + "compressed.mp4", "video/mp4", 400)
    assert [a.kind for a in (await catalog.get_video("alice", vid)).assets] == ["ORIGINAL", "SOURCE"]
    await catalog.put_asset("alice", vid, "ORIGINAL", key + "original.mkv", "video/x-matroska", 200)  # -100
    await catalog.put_asset("alice", vid, "COMPRESSED", key + "compressed.mp4", "video/mp4", 400)  # 1000
    other = (await catalog.create_video("alice", "t", "f.webm", "video/webm", 0)).id
    with pytest.raises(ResourceExhausted, match="quota"):  # chunks see the outputs too
        await catalog.record_chunk("alice", other, 0, 1, 0, is_last=True)
    await catalog.mark_deleted("alice", vid, abort_only=False)  # a deleted video's bytes are free
    await catalog.record_chunk("alice", other, 0, 1, 0, is_last=True)


async def test_the_stricter_of_the_catalog_and_ingest_quotas_applies(catalog, clock):
    lenient = catalog_with(catalog, clock, user_quota_bytes=0)
    vid = (await lenient.create_video("alice", "t", "f.webm", "video/webm", 0)).id
    with pytest.raises(ResourceExhausted):
        await lenient.record_chunks("alice", vid, [StoredChunk(0, 101, 0)], 0, 100)
    strict = catalog_with(catalog, clock, user_quota_bytes=50)
    with pytest.raises(ResourceExhausted):
        await strict.record_chunks("alice", vid, [StoredChunk(0, 60, 0)], 0, 100)
    await strict.record_chunks("alice", vid, [StoredChunk(0, 50, 0)], 0, 100)


async def test_concurrent_outputs_of_one_owner_cannot_overshoot_the_quota(catalog, clock):
    catalog = catalog_with(catalog, clock, user_quota_bytes=1000, max_open_uploads_per_user=20)
    videos = [await uploaded(catalog, size=0) for _ in range(8)]
    results = await asyncio.gather(
        *[
            catalog.put_asset("alice", vid, "COMPRESSED", f"users/alice/videos/{vid}/c.mp4", "video/mp4", 300)
            for vid in videos
        ],
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 3
    assert all(isinstance(r, ResourceExhausted) for r in results if r is not None)
    # An output and an upload's chunk racing for the last 100 bytes: one of them gets them.
    last = (await catalog.create_video("alice", "t", "f.webm", "video/webm", 0)).id
    results = await asyncio.gather(
        catalog.put_asset(
            "alice", videos[-1], "THUMBNAIL", f"users/alice/videos/{videos[-1]}/t.jpg", "image/jpeg", 100
        ),
        catalog.record_chunk("alice", last, 0, 100, 0, is_last=True),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(refused) == 1 and isinstance(refused[0], ResourceExhausted), results


# ---- fair order -------------------------------------------------------------------------------------
async def test_pending_jobs_take_turns_between_owners(catalog, clock):
    catalog = catalog_with(catalog, clock)
    order = ["alice"] * 5 + ["bob"] * 2 + ["carol"]
    jobs: dict[str, list[str]] = {}
    for owner in order:
        jobs.setdefault(owner, []).append(await uploaded(catalog, owner))
        clock.advance(seconds=1)
    listed = await catalog.list_pending_processing(100)
    a, b, c = jobs["alice"], jobs["bob"], jobs["carol"]
    assert [ref.video_id for ref in listed] == [a[0], b[0], c[0], a[1], b[1], a[2], a[3], a[4]]
    assert [ref.video_id for ref in await catalog.list_pending_processing(2)] == [a[0], b[0]]


async def test_an_owner_holds_at_most_its_processing_slots(catalog, clock):
    catalog = catalog_with(catalog, clock)
    alice = [await uploaded(catalog) for _ in range(4)]
    bob = await uploaded(catalog, "bob")
    claims = await asyncio.gather(*[catalog.claim_processing("alice", vid, f"w{i}", 60) for i, vid in enumerate(alice)])
    assert sum(claimed for claimed, _ in claims) == 1
    winner = next(v for claimed, v in claims if claimed)
    for claimed, video in claims:
        if not claimed:  # refused, still waiting, no history written
            assert video.status == "UPLOADED" and video.processing_attempts == 0
            assert [e.status for e in video.events] == ["UPLOADING", "UPLOADED"]
    assert (await catalog.claim_processing("bob", bob, "wb", 60))[0]  # bob is not held up
    waiting = [vid for vid in alice if vid != winner.id]
    clock.advance(minutes=2)  # the winner's worker died: its slot is free again
    assert (await catalog.claim_processing("alice", waiting[0], "w8", 60))[0]
    assert not (await catalog.claim_processing("alice", waiting[1], "w9", 60))[0]
    await catalog.finish_processing("alice", waiting[0], "w8", "READY", None, None)
    assert (await catalog.claim_processing("alice", waiting[1], "w9", 60))[0]
