"""The catalog's rules on real SQLite and PostgreSQL databases (no server needed)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from catalog_service import db
from catalog_service.catalog import Catalog, MediaInfo, StoredChunk
from catalog_service.models import Base
from recorder_common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Reason
from recorder_common.vocab import VideoRef
from tests.helpers import CommitCounter


def test_migrations_match_the_models(database_url):
    db.migrate(database_url)
    engine = create_engine(db.sync_url(database_url))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


async def new_video(catalog: Catalog, owner: str = "alice", title: str = "demo") -> str:
    return (await catalog.create_video(owner, title, "demo.webm", "video/webm", 0)).id


async def test_chunks_in_any_order_complete_exactly_once(catalog):
    vid = await new_video(catalog)
    order = [3, 0, 2]
    for index in order:
        record = await catalog.record_chunk("alice", vid, index, 10, index, is_last=index == 3)
        assert record.outcome == "STORED" and not record.completed_upload
    state = await catalog.upload_state("alice", vid)
    assert state.missing_indices == [1] and state.stored_indices == [0, 2, 3] and not state.complete
    summary = await catalog.upload_state("alice", vid, with_indices=False)
    assert (summary.received_chunks, summary.last_index, summary.stored_indices) == (3, 3, [])
    record = await catalog.record_chunk("alice", vid, 1, 10, 1, is_last=False)
    assert record.completed_upload and record.state.complete and record.state.status == "UPLOADED"
    again = await catalog.record_chunk("alice", vid, 3, 10, 3, is_last=True)
    assert again.outcome == "DUPLICATE" and not again.completed_upload
    video = await catalog.get_video("alice", vid)
    assert (video.received_chunks, video.received_bytes, video.last_index) == (4, 40, 3)


async def test_concurrent_last_chunks_complete_once(catalog):
    vid = await new_video(catalog)
    await catalog.record_chunk("alice", vid, 0, 5, 0, False)
    results = await asyncio.gather(*[catalog.record_chunk("alice", vid, 1, 5, 1, True) for _ in range(6)])
    assert sum(r.completed_upload for r in results) == 1
    assert sorted(r.outcome for r in results) == ["DUPLICATE"] * 5 + ["STORED"]


async def test_concurrent_requests_share_transactions_and_keep_their_own_outcomes(catalog):
    """Group commit: 40 uploads' chunks recorded at once take far fewer transactions than
    requests, and a refused request in a group neither spoils the others nor leaves any of its
    own chunks behind."""
    uploads = [await new_video(catalog, owner=f"user{i % 4}") for i in range(40)]
    await catalog.record_chunk("user1", uploads[1], 1, 5, 999, False)  # the bad request below conflicts
    counter = CommitCounter(catalog)
    try:
        results = await asyncio.gather(
            *[
                catalog.record_chunks(f"user{i % 4}", vid, [StoredChunk(0, 5, 0), StoredChunk(1, 5, 1, is_last=True)])
                for i, vid in enumerate(uploads)
            ],
            return_exceptions=True,
        )
    finally:
        counter.close()
    assert counter.commits < len(uploads) / 4, counter.commits
    assert isinstance(results[1], AlreadyExists)
    for i, (vid, result) in enumerate(zip(uploads, results)):
        state = await catalog.upload_state(f"user{i % 4}", vid)
        if i == 1:  # all or nothing: its chunk 0 was not recorded either
            assert (state.stored_indices, state.received_bytes, state.status) == ([1], 5, "UPLOADING")
        else:
            assert result.outcomes == ["STORED", "STORED"] and result.completed_upload, result
            assert (result.state.status, result.state.received_chunks, result.state.complete) == ("UPLOADED", 2, True)
            assert (state.stored_indices, state.received_bytes, state.status) == ([0, 1], 10, "UPLOADED")


async def test_a_request_that_breaks_the_shared_transaction_fails_alone(catalog):
    """A database error is not a refusal the rules foresaw: the group is retried one request at a
    time, so only the request that caused it fails."""
    uploads = [await new_video(catalog) for _ in range(6)]
    results = await asyncio.gather(
        *[
            catalog.record_chunks("alice", vid, [StoredChunk(0, 2**63 if i == 3 else 5, 0)])  # too big for BIGINT
            for i, vid in enumerate(uploads)
        ],
        return_exceptions=True,
    )
    assert isinstance(results[3], Exception) and not isinstance(results[3], AlreadyExists)
    assert [r.outcomes for i, r in enumerate(results) if i != 3] == [["STORED"]] * 5
    assert (await catalog.upload_state("alice", uploads[3])).received_chunks == 0
    assert (await catalog.upload_state("alice", uploads[4])).received_chunks == 1


async def test_a_group_applies_requests_in_arrival_order(catalog):
    """Within one group a later request sees what an earlier one recorded: duplicates, the quota
    the user has left, the last chunk's index."""
    vid, other, third = await new_video(catalog), await new_video(catalog), await new_video(catalog)
    results = await asyncio.gather(
        catalog.record_chunks("alice", vid, [StoredChunk(0, 40, 0)], 0, 100),
        catalog.record_chunks("alice", vid, [StoredChunk(0, 40, 0)], 0, 100),  # a resend: duplicate
        catalog.record_chunks("alice", other, [StoredChunk(0, 40, 1)], 0, 100),
        catalog.record_chunks("alice", other, [StoredChunk(1, 40, 2)], 0, 100),  # over the quota of 100
        catalog.record_chunks("alice", vid, [StoredChunk(2, 10, 3, is_last=True)], 0, 100),
        catalog.record_chunks("alice", vid, [StoredChunk(3, 10, 4)], 0, 100),  # past the last (2)
        catalog.record_chunks("bob", third, [StoredChunk(5, 1, 5)]),
        catalog.record_chunks("bob", third, [StoredChunk(2, 1, 6, is_last=True)]),  # 5 is stored
        return_exceptions=True,
    )
    assert [r.outcomes if not isinstance(r, Exception) else type(r).__name__ for r in results] == [
        ["STORED"],
        ["DUPLICATE"],
        ["STORED"],
        "ResourceExhausted",
        ["STORED"],
        "FailedPrecondition",
        "NotFound",
        "NotFound",
    ]
    assert results[5].reason == Reason.PAST_LAST_CHUNK
    results = await asyncio.gather(
        catalog.record_chunks("alice", third, [StoredChunk(5, 1, 5)]),
        catalog.record_chunks("alice", third, [StoredChunk(2, 1, 6, is_last=True)]),
        return_exceptions=True,
    )
    assert results[1].reason == Reason.PAST_LAST_CHUNK  # chunk 5 is stored: 2 cannot be last
    assert (await catalog.upload_state("alice", vid)).stored_indices == [0, 2]
    assert (await catalog.upload_state("alice", other)).received_bytes == 40


async def test_conflicting_chunk_is_refused_and_kept(catalog):
    vid = await new_video(catalog)
    await catalog.record_chunk("alice", vid, 0, 5, 111, False)
    with pytest.raises(AlreadyExists):
        await catalog.record_chunk("alice", vid, 0, 5, 222, False)
    state = await catalog.upload_state("alice", vid)
    assert state.received_chunks == 1 and state.received_bytes == 5


async def test_last_index_rules(catalog):
    vid = await new_video(catalog)
    await catalog.record_chunk("alice", vid, 5, 1, 0, False)
    with pytest.raises(FailedPrecondition, match="chunk 5 is already stored"):
        await catalog.record_chunk("alice", vid, 2, 1, 0, True)
    await catalog.record_chunk("alice", vid, 6, 1, 0, True)
    with pytest.raises(FailedPrecondition, match="past the last chunk"):
        await catalog.record_chunk("alice", vid, 7, 1, 0, False)
    with pytest.raises(FailedPrecondition, match="already flagged"):
        await catalog.record_chunk("alice", vid, 4, 1, 0, True)
    with pytest.raises(InvalidArgument):
        await catalog.record_chunk("alice", vid, -1, 1, 0, False)
    state = await catalog.upload_state("alice", vid)
    assert state.missing_indices == [0, 1, 2, 3, 4] and state.last_index == 6


async def test_new_chunk_after_completion_is_refused(catalog):
    vid = await new_video(catalog)
    await catalog.record_chunk("alice", vid, 0, 1, 0, True)
    with pytest.raises(FailedPrecondition, match="UPLOADED"):
        await catalog.record_chunk("alice", vid, 1, 1, 0, False)


async def test_other_owner_gets_not_found(catalog):
    vid = await new_video(catalog)
    for call in (
        catalog.get_video("bob", vid),
        catalog.upload_state("bob", vid),
        catalog.record_chunk("bob", vid, 0, 1, 0, True),
        catalog.claim_processing("bob", vid, "w", 30),
    ):
        with pytest.raises(NotFound):
            await call
    assert (await catalog.get_video("alice", vid)).received_chunks == 0


@pytest.mark.parametrize(
    "field,value",
    [
        ("title", "a\0b"),
        ("title", "x" * 513),
        ("filename", "a\nb"),
        ("filename", "f" * 256),
        ("filename", "rec\u202egnp.exe"),
        ("title", "\u2067isolate"),
    ],
)
async def test_bad_metadata_is_invalid(catalog, field, value):
    kwargs = dict(title="t", filename="f.webm", content_type="video/webm", expected_size=0)
    kwargs[field] = value
    with pytest.raises(InvalidArgument):
        await catalog.create_video("alice", **kwargs)


async def test_metadata_is_kept_verbatim(catalog):
    title = "../../etc/passwd הקלטה résumé 🎬"
    video = await catalog.create_video("alice", title, "/abs/path.webm", "video/webm", 0)
    assert (video.title, video.filename) == (title, "/abs/path.webm")


async def test_list_is_newest_first_and_paginated(catalog):
    ids = [await new_video(catalog, title=f"v{i}") for i in range(7)]
    await new_video(catalog, owner="bob")
    seen, token = [], ""
    while True:
        page, token = await catalog.list_videos("alice", 3, token)
        assert len(page) <= 3
        seen += [v.id for v in page]
        if not token:
            break
    assert seen == list(reversed(ids))
    with pytest.raises(InvalidArgument):
        await catalog.list_videos("alice", 3, "garbage!")


async def test_claim_is_exclusive_and_lease_expiry_allows_takeover(catalog):
    vid = await new_video(catalog)
    await catalog.record_chunk("alice", vid, 0, 1, 0, True)
    claims = await asyncio.gather(*[catalog.claim_processing("alice", vid, f"w{i}", 60) for i in range(4)])
    assert sum(claimed for claimed, _ in claims) == 1
    winner = next(v.lease_owner for claimed, v in claims if claimed)
    await catalog.report_progress("alice", vid, winner, "COMPRESS", 0.5, 60)
    with pytest.raises(FailedPrecondition, match="lease"):
        await catalog.report_progress("alice", vid, "intruder", "COMPRESS", 0.9, 60)
    assert await catalog.list_pending_processing(10) == []
    # The worker dies: once its lease is over, the job is pending again and another worker takes it.
    later = Catalog(catalog.sessions, clock=lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
    assert await later.list_pending_processing(10) == [VideoRef("alice", vid)]
    claimed, video = await later.claim_processing("alice", vid, "w-new", 60)
    assert claimed and video.processing_attempts == 2
    with pytest.raises(FailedPrecondition):
        await catalog.finish_processing("alice", vid, winner, "READY", None, None)
    await later.set_media_info("alice", vid, MediaInfo(duration_seconds=12.5, width=1280, height=720))
    await later.put_asset("alice", vid, "COMPRESSED", "users/alice/x.mp4", "video/mp4", 10)
    await later.put_asset("alice", vid, "COMPRESSED", "users/alice/x.mp4", "video/mp4", 20)
    done = await later.finish_processing("alice", vid, "w-new", "READY", None, None)
    assert done.status == "READY" and done.duration_seconds == 12.5 and done.progress == 1.0
    assert [(a.kind, a.size) for a in done.assets] == [("COMPRESSED", 20)]
    assert [e.status for e in done.events] == [
        "UPLOADING",
        "UPLOADED",
        "PROCESSING",
        "PROCESSING",
        "PROCESSING",
        "READY",
    ]


async def test_jobs_interrupted_three_times_end_failed(catalog):
    vid = await new_video(catalog)
    await catalog.record_chunk("alice", vid, 0, 1, 0, True)
    now = dt.datetime.now(dt.timezone.utc)
    for attempt in range(3):
        clock_catalog = Catalog(catalog.sessions, clock=lambda a=attempt: now + dt.timedelta(minutes=5 * a))
        claimed, _ = await clock_catalog.claim_processing("alice", vid, f"w{attempt}", 60)
        assert claimed
    final = Catalog(catalog.sessions, clock=lambda: now + dt.timedelta(minutes=30))
    assert await final.list_pending_processing(10) == []  # out of attempts: nothing to pick up
    assert (await catalog.get_video("alice", vid)).status == "PROCESSING"  # listing changed nothing
    assert await final.fail_exhausted_jobs(10) == [VideoRef("alice", vid)]
    assert await final.fail_exhausted_jobs(10) == []
    video = await catalog.get_video("alice", vid)
    assert video.status == "FAILED" and "interrupted 3 times" in video.error
    assert (video.events[-1].status, video.events[-1].step) == ("FAILED", "ASSEMBLE")


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_two_catalog_replicas_recording_the_same_uploads_lose_nothing(database_url):
    """Two catalog processes on one PostgreSQL, each writing groups that span the same uploads
    (in opposite orders): row locks taken in id order, no deadlock, no lost update."""
    await asyncio.to_thread(db.migrate, database_url)
    engines = [db.create_engine(database_url) for _ in range(2)]
    try:
        first, second = (Catalog(db.session_factory(e)) for e in engines)
        uploads = [await new_video(first) for _ in range(12)]
        calls = [first.record_chunks("alice", vid, [StoredChunk(i, 3, i)]) for i in range(0, 16, 2) for vid in uploads]
        calls += [
            second.record_chunks("alice", vid, [StoredChunk(i, 3, i)])
            for i in range(1, 16, 2)
            for vid in reversed(uploads)
        ]
        results = await asyncio.gather(*calls)
        assert all(r.outcomes == ["STORED"] for r in results)
        for vid in uploads:
            state = await first.upload_state("alice", vid)
            assert (state.received_chunks, state.received_bytes, state.stored_indices) == (16, 48, list(range(16)))
    finally:
        for e in engines:
            await e.dispose()


async def test_only_a_ready_videos_chunks_can_be_forgotten(catalog):
    vid = await new_video(catalog)
    await catalog.record_chunk("alice", vid, 0, 5, 0, is_last=True)
    with pytest.raises(FailedPrecondition, match="UPLOADED"):
        await catalog.forget_chunks("alice", vid)
    with pytest.raises(NotFound):
        await catalog.forget_chunks("bob", vid)
    assert await catalog.list_ready_with_chunks(0, 10) == []  # not READY
    assert (await catalog.upload_state("alice", vid)).stored_indices == [0]
