"""Renditions: READY means watchable, and derived outputs (the compressed MP4) follow with their own
state. The catalog's rendition queue on real SQLite and PostgreSQL; a failing encode and a retry of
only that rendition through real servers and ffmpeg; eight recordings at once through real
processes."""

from __future__ import annotations

import dataclasses
import subprocess
import threading

import grpc
import pytest

from catalog_service.catalog import RenditionAsset
from media_service.settings import CompressionProfile, find_ffmpeg
from recorder.v1 import common_pb2 as R, ingest_pb2, ingest_pb2_grpc
from recorder_common.errors import FailedPrecondition
from recorder_common.vocab import RenditionKind, RenditionState
from tests import helpers, media_tools
from tests.helpers import MiB, asset, chunk, expect, rendition, split, upload_unary, user, wait_final, wait_for
from tests.process_stack import ProcessStack

ALICE = user("alice")
COMPRESSED = RenditionKind.COMPRESSED


# ---- the queue in the catalog ------------------------------------------------------------------
async def ready_video(catalog, owner: str) -> str:
    """A video made READY the way media does it (upload, claim, finish)."""
    video = await catalog.create_video(owner, "t", "r.webm", "video/webm", 0)
    await catalog.record_chunk(owner, video.id, 0, 10, 0, is_last=True)
    assert (await catalog.claim_processing(owner, video.id, "job-worker", 60))[0]
    await catalog.finish_processing(owner, video.id, "job-worker", "READY", None, None)
    return video.id


async def claim(catalog, worker: str = "encoder"):
    got = await catalog.claim_rendition(worker, 60, COMPRESSED)
    assert got.claimed
    return got.owner_id, got.video_id


async def test_the_queue_is_fifo_within_fairness_between_owners(catalog):
    alice = [await ready_video(catalog, "alice") for _ in range(3)]
    bob = await ready_video(catalog, "bob")
    carol = await ready_video(catalog, "carol")
    # alice's backlog came first, but while her first encode runs bob and carol go before her next.
    order = [await claim(catalog) for _ in range(5)]
    assert order == [("alice", alice[0]), ("bob", bob), ("carol", carol), ("alice", alice[1]), ("alice", alice[2])]
    assert not (await catalog.claim_rendition("encoder", 60, COMPRESSED)).claimed  # nothing left


async def test_a_rendition_is_queued_only_once_its_video_is_ready_and_claimed_once(catalog):
    video = await catalog.create_video("alice", "t", "r.webm", "video/webm", 0)
    assert [(r.kind, r.state) for r in (await catalog.get_video("alice", video.id)).renditions] == [
        ("COMPRESSED", "PENDING"),
        ("STORYBOARD", "PENDING"),
    ]
    assert not (await catalog.claim_rendition("encoder", 60, COMPRESSED)).claimed  # UPLOADING: no original yet
    # A live encode may take it while the recording arrives; a second claimant may not.
    live = await catalog.claim_rendition("live", 60, COMPRESSED, "alice", video.id)
    assert live.claimed
    assert not (await catalog.claim_rendition("other", 60, COMPRESSED, "alice", video.id)).claimed
    # Another user cannot claim it for themselves.
    assert not (await catalog.claim_rendition("x", 60, COMPRESSED, "bob", video.id)).claimed


async def test_given_back_it_waits_for_ready_and_a_lapsed_lease_is_taken_over(catalog):
    video = await catalog.create_video("alice", "t", "r.webm", "video/webm", 0)
    assert (await catalog.claim_rendition("live", 60, COMPRESSED, "alice", video.id)).claimed
    await catalog.finish_rendition(
        "alice", video.id, COMPRESSED, "live", RenditionState.PENDING, error="behind real time"
    )
    row = (await catalog.get_video("alice", video.id)).renditions[0]
    assert (row.state, row.lease_owner, row.attempts) == ("PENDING", None, 0)
    await catalog.record_chunk("alice", video.id, 0, 10, 0, is_last=True)
    assert (await catalog.claim_processing("alice", video.id, "job", 60))[0]
    await catalog.finish_processing("alice", video.id, "job", "READY", None, None)
    assert (await claim(catalog, "queued-1")) == ("alice", video.id)
    # queued-1 dies: once its lease lapses another encoder takes the rendition over.
    catalog.clock = lambda base=catalog.clock: base() + __import__("datetime").timedelta(seconds=120)
    assert (await claim(catalog, "queued-2")) == ("alice", video.id)
    with pytest.raises(FailedPrecondition):  # the dead one's late report changes nothing
        await catalog.report_rendition_progress("alice", video.id, COMPRESSED, "queued-1", 0.5, 60)
    await catalog.finish_rendition(
        "alice",
        video.id,
        COMPRESSED,
        "queued-2",
        RenditionState.READY,
        RenditionAsset(f"users/alice/videos/{video.id}/compressed.mp4", "video/mp4", 123),
    )
    got = await catalog.get_video("alice", video.id)
    assert got.status == "READY" and got.renditions[0].state == "READY" and got.renditions[0].progress == 1.0
    assert {a.kind: a.size for a in got.assets}["COMPRESSED"] == 123


async def test_a_rendition_whose_encoder_died_three_times_ends_failed(catalog):
    import datetime as dt

    video_id = await ready_video(catalog, "alice")
    base = catalog.clock
    for attempt in range(3):
        catalog.clock = lambda base=base, attempt=attempt: base() + dt.timedelta(seconds=120 * attempt)
        assert (await claim(catalog, f"encoder-{attempt}")) == ("alice", video_id)
    catalog.clock = lambda: base() + dt.timedelta(seconds=600)
    assert not (await catalog.claim_rendition("encoder-4", 60, COMPRESSED)).claimed  # no fourth attempt
    await catalog.fail_exhausted_jobs(100)
    video = await catalog.get_video("alice", video_id)
    assert video.status == "READY" and video.renditions[0].state == "FAILED"
    assert "interrupted 3 times" in video.renditions[0].error


async def test_a_failed_rendition_keeps_the_video_ready_and_only_it_is_retried(catalog):
    video_id = await ready_video(catalog, "alice")
    await claim(catalog)
    await catalog.finish_rendition(
        "alice", video_id, COMPRESSED, "encoder", RenditionState.FAILED, error="could not compress the recording: boom"
    )
    video = await catalog.get_video("alice", video_id)
    assert video.status == "READY" and video.renditions[0].error.endswith("boom")
    history = len(video.events)
    with pytest.raises(FailedPrecondition):  # a READY video itself cannot be retried
        await catalog.retry_processing("alice", video_id)
    video = await catalog.retry_processing("alice", video_id, COMPRESSED)
    assert video.status == "READY" and video.renditions[0].state == "PENDING" and not video.renditions[0].error
    assert [e.status for e in video.events[history:]] == ["READY"]  # a rendition event, not a status change
    assert video.events[-1].message.startswith(helpers.RENDITION_EVENT_PREFIXES)  # what status_events() leaves out
    with pytest.raises(FailedPrecondition):  # only a FAILED rendition is retried
        await catalog.retry_processing("alice", video_id, COMPRESSED)


# ---- a failing encode, through real servers ---------------------------------------------------
async def test_a_failing_encode_leaves_the_video_ready_and_retry_redoes_only_that_rendition(
    database_url, tmp_path, recording_3s
):
    from tests.conftest import start_stack

    # An encoder option x264 refuses: every compressed encode fails, live or queued.
    broken = dataclasses.replace(CompressionProfile(), video_options=(("preset", "no-such-preset"), ("crf", 23)))
    stack, stop = await start_stack(database_url, tmp_path / "s", media_overrides={"profile": broken})
    try:
        video_id = await upload_unary(stack, recording_3s.read_bytes(), ALICE, chunk_size=64 * 1024)
        video = await wait_final(stack, video_id, ALICE)
        assert video.status == R.VIDEO_STATUS_READY, video.error
        failed = rendition(video)
        assert failed.state == R.RENDITION_STATE_FAILED and "could not compress" in failed.error, failed
        assert not failed.HasField("asset")
        # Watchable all the same: the seekable original, its thumbnail, duration and streams.
        original = asset(stack, video, R.ASSET_KIND_ORIGINAL)
        assert media_tools.probe(original).duration_seconds == pytest.approx(3.0, abs=0.15)
        assert asset(stack, video, R.ASSET_KIND_THUMBNAIL).stat().st_size > 0
        # The compressed rendition's outputs: the MP4 and the HLS its encode writes beside it.
        rendition_outputs = {R.ASSET_KIND_COMPRESSED, R.ASSET_KIND_HLS}
        assert not rendition_outputs & {a.kind for a in video.assets}
        kept = {a.kind: (a.path, a.size_bytes, a.created_at.ToNanoseconds()) for a in video.assets}
        # The encoder is fixed (a new deployment), and the owner retries only the rendition.
        stack.media.renditions.encode.profile = CompressionProfile()
        retried = await stack.ingest.RetryProcessing(
            ingest_pb2.RetryVideoProcessingRequest(video_id=video_id, rendition=R.RENDITION_KIND_COMPRESSED),
            metadata=ALICE,
            timeout=10,
        )
        assert retried.status == R.VIDEO_STATUS_READY
        video = await wait_final(stack, video_id, ALICE)
        done = rendition(video)
        assert video.status == R.VIDEO_STATUS_READY and done.state == R.RENDITION_STATE_READY, done
        mp4 = asset(stack, video, R.ASSET_KIND_COMPRESSED)
        clean, seconds, errors = media_tools.decode_fully(mp4)
        assert clean, errors
        assert seconds == pytest.approx(3.0, abs=0.15)
        # Nothing else was made again: the other outputs are the same files, and the video never
        # left READY (no PROCESSING after the first READY in its history).
        assert {
            a.kind: (a.path, a.size_bytes, a.created_at.ToNanoseconds())
            for a in video.assets
            if a.kind not in rendition_outputs
        } == kept
        statuses = [e.status for e in video.history]
        assert statuses[statuses.index(R.VIDEO_STATUS_READY) :] == [R.VIDEO_STATUS_READY] * (
            len(statuses) - statuses.index(R.VIDEO_STATUS_READY)
        )
        # A READY rendition is not retried.
        await expect(
            grpc.StatusCode.FAILED_PRECONDITION,
            stack.ingest.RetryProcessing(
                ingest_pb2.RetryVideoProcessingRequest(video_id=video_id, rendition=R.RENDITION_KIND_COMPRESSED),
                metadata=ALICE,
                timeout=10,
            ),
        )
    finally:
        await stop()


# ---- eight at once, through real processes ----------------------------------------------------
def seekable(original) -> bool:
    """A frame three quarters in decodes after a seek (the container has a duration and an index)."""
    seconds = media_tools.probe(original).duration_seconds
    run = subprocess.run(
        [
            find_ffmpeg(),
            "-v",
            "error",
            "-ss",
            f"{seconds * 0.75:.2f}",
            "-i",
            str(original),
            "-frames:v",
            "1",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        timeout=60,
    )
    return seconds is not None and run.returncode == 0 and not run.stderr


@pytest.mark.one_database
@pytest.mark.slow
def test_eight_recordings_at_once_all_become_ready_and_their_renditions_follow(database_url, tmp_path, recording_60s):
    stack = ProcessStack(database_url, tmp_path, {"PROCESSING_SWEEP_SECONDS": "1"}).start_all()
    users = [user(f"user{i}") for i in range(8)]
    ids: list[str | None] = [None] * 8
    errors: list[BaseException] = []
    parts = split(recording_60s.read_bytes(), MiB)

    def record(i: int) -> None:
        try:
            with grpc.insecure_channel(stack.target("ingest")) as channel:
                stub = ingest_pb2_grpc.IngestServiceStub(channel)
                ids[i] = stub.CreateUpload(
                    ingest_pb2.CreateUploadRequest(title=f"rec {i}", filename="r.webm", content_type="video/webm"),
                    metadata=users[i],
                    timeout=10,
                ).video_id
                for n, part in enumerate(parts):
                    stub.PutChunk(
                        ingest_pb2.PutChunkRequest(video_id=ids[i], chunk=chunk(n, part, n == len(parts) - 1)),
                        metadata=users[i],
                        timeout=30,
                    )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    try:
        threads = [threading.Thread(target=record, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert not errors, errors
        videos = []
        for i, video_id in enumerate(ids):
            video = wait_for(
                lambda: (
                    (v := helpers.get_video(stack, video_id, users[i])).status
                    in (R.VIDEO_STATUS_READY, R.VIDEO_STATUS_FAILED)
                    and v
                ),
                600,
                f"recording {i} to be READY",
            )
            assert video.status == R.VIDEO_STATUS_READY, video.error
            original = stack.storage_root / next(a.path for a in video.assets if a.kind == R.ASSET_KIND_ORIGINAL)
            assert seekable(original), f"recording {i}'s original is not seekable"
            assert video.media.duration_seconds == pytest.approx(60.0, abs=0.2)
            videos.append(video)
        for i, video_id in enumerate(ids):
            video = wait_for(
                lambda: helpers.renditions_done(v := helpers.get_video(stack, video_id, users[i])) and v,
                900,
                f"recording {i}'s renditions",
            )
            done = rendition(video)
            assert done.state == R.RENDITION_STATE_READY, done.error
            mp4 = stack.storage_root / done.asset.path
            probed = media_tools.probe(mp4)
            assert probed.video.codec == "h264" and probed.duration_seconds == pytest.approx(60.0, abs=0.2)
    finally:
        codes = stack.stop_all()
    assert all(code == 0 for code in codes.values()), f"unclean shutdown: {codes}"


async def test_a_video_read_while_its_rendition_finishes_never_shows_it_ready_without_its_asset(catalog, database_url):
    """A read of one video is one snapshot: on PostgreSQL (READ COMMITTED) and SQLite each
    statement sees the newest commit, so reading the assets and the renditions in two statements
    could show a rendition READY whose asset was committed after the assets were read (a CI run
    caught that: compressed READY, no compressed asset). Another writer commits the rendition's
    end right after the read's first statement that loads assets."""
    import sqlalchemy

    from catalog_service import db

    video_id = await ready_video(catalog, "alice")
    await claim(catalog)
    writer = sqlalchemy.create_engine(db.sync_url(database_url))
    engine = catalog.sessions.kw["bind"].sync_engine
    fired = []

    def finish_elsewhere(conn, cursor, statement, parameters, context, executemany):
        if fired or not statement.lstrip().upper().startswith("SELECT") or "assets" not in statement:
            return
        fired.append(statement)
        with writer.begin() as other:
            other.execute(
                sqlalchemy.text(
                    "INSERT INTO assets (video_id, kind, path, content_type, size, created_at) "
                    "VALUES (:v, 'COMPRESSED', 'users/alice/x.mp4', 'video/mp4', 10, CURRENT_TIMESTAMP)"
                ),
                {"v": video_id},
            )
            other.execute(
                sqlalchemy.text(
                    "UPDATE renditions SET state = 'READY', progress = 1 WHERE video_id = :v AND kind = 'COMPRESSED'"
                ),
                {"v": video_id},
            )

    sqlalchemy.event.listen(engine, "after_cursor_execute", finish_elsewhere)
    try:
        video = await catalog.get_video("alice", video_id)
    finally:
        sqlalchemy.event.remove(engine, "after_cursor_execute", finish_elsewhere)
        writer.dispose()
    assert fired, "the read loaded no assets"
    ready = {r.kind for r in video.renditions if r.state == "READY"}
    assert ready <= {a.kind for a in video.assets}, "a READY rendition without its asset"
    again = await catalog.get_video("alice", video_id)  # and the commit is seen by the next read
    assert {r.kind: r.state for r in again.renditions}["COMPRESSED"] == "READY"
    assert "COMPRESSED" in {a.kind for a in again.assets}
