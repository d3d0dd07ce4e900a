"""Processing while the upload arrives: the live path makes the same outputs as the batch path,
waits out gaps, and hands over to the batch path when it is lost."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from recorder.v1 import common_pb2
from tests import media_tools
from tests.conftest import separate_storage, start_stack
from tests.fakes import RecordedChunks
from tests.helpers import MiB, asset, chunk, create_upload, put_chunk, split, user, wait_final, wait_until

ALICE = user("alice")


async def send(stack, data: bytes, order=None, chunk_size: int = 256 * 1024, pause: float = 0.0, between=None) -> str:
    video_id = await create_upload(stack, ALICE, title="live", content_type="video/webm;codecs=vp8,opus")
    parts = split(data, chunk_size)
    for n, i in enumerate(order or range(len(parts))):
        await put_chunk(stack, video_id, chunk(i, parts[i], i == len(parts) - 1), ALICE)
        if between is not None:
            await between(n, video_id)
        await asyncio.sleep(pause)
    return video_id


def followed(stack):
    """A `between` for send(): after the first chunk, wait until a live session follows the
    upload. These tests are about what the live path makes; hints are fire-and-forget, and on a
    slow machine the job could otherwise take a short upload before any hint started a session."""

    async def between(sent, video_id):
        if sent == 0:
            await wait_until(lambda: stack.media.live.sessions.get(video_id), "a live session")

    return between


def outputs(stack, video):
    return {
        kind: asset(stack, video, kind)
        for kind in (
            common_pb2.ASSET_KIND_SOURCE,
            common_pb2.ASSET_KIND_ORIGINAL,
            common_pb2.ASSET_KIND_COMPRESSED,
            common_pb2.ASSET_KIND_THUMBNAIL,
        )
    }


@pytest.mark.both_backends
async def test_live_and_batch_paths_make_the_same_outputs(stack, database_url, tmp_path, storage_backend, recording_3s):
    data = recording_3s.read_bytes()
    live_id = await send(stack, data, pause=0.05, between=followed(stack))
    live = await wait_final(stack, live_id, ALICE)
    assert live.status == common_pb2.VIDEO_STATUS_READY, live.error
    assert stack.media.live.finished == 1, dict(stack.media.live.declined)
    # The compressed rendition was encoded live; its encoder counts it just after the catalog
    # recorded it, which can be after this watch ended.
    await wait_until(lambda: stack.media.live.encoders.outcomes, "the live encode's outcome")
    assert stack.media.live.encoders.outcomes == {"ready": 1}

    # A second stack on the same kind of database and storage, with live processing off; its own
    # SQLite file (one PostgreSQL database holds both stacks' videos apart by id).
    batch_db = f"sqlite:///{tmp_path / 'batch.sqlite3'}" if database_url.startswith("sqlite") else database_url
    batch_stack, stop = await start_stack(
        batch_db,
        tmp_path / "batch",
        storage=separate_storage(storage_backend, tmp_path / "batch"),
        media_overrides={"max_live_sessions": 0},
    )
    try:
        batch_id = await send(batch_stack, data)
        batch = await wait_final(batch_stack, batch_id, ALICE)
        assert batch.status == common_pb2.VIDEO_STATUS_READY, batch.error
        assert batch_stack.media.live.finished == 0
        a, b = outputs(stack, live), outputs(batch_stack, batch)
        assert a[common_pb2.ASSET_KIND_SOURCE].read_bytes() == data == b[common_pb2.ASSET_KIND_SOURCE].read_bytes()
        for stream in ("v:0", "a:0"):  # the same packets, copied, in both originals
            assert media_tools.packet_hashes(a[common_pb2.ASSET_KIND_ORIGINAL], stream) == media_tools.packet_hashes(
                b[common_pb2.ASSET_KIND_ORIGINAL], stream
            )
        (live_media, batch_media) = live.media, batch.media
        assert live_media.duration_seconds == batch_media.duration_seconds
        assert (live_media.width, live_media.height) == (batch_media.width, batch_media.height)
        # The same encode of the same frames: every audio packet byte-identical, and as many video
        # packets (x264's output depends on its thread count, and a queued encode is given every
        # free core, a live one the encoder's default). Only the last video frame's duration can
        # differ (a pipe gives ffmpeg no container duration to end on).
        assert media_tools.packet_hashes(a[common_pb2.ASSET_KIND_COMPRESSED], "a:0") == media_tools.packet_hashes(
            b[common_pb2.ASSET_KIND_COMPRESSED], "a:0"
        )
        assert media_tools.count_packets(a[common_pb2.ASSET_KIND_COMPRESSED]) == media_tools.count_packets(
            b[common_pb2.ASSET_KIND_COMPRESSED]
        )
        clean, seconds, errors = media_tools.decode_fully(a[common_pb2.ASSET_KIND_COMPRESSED])
        assert clean, errors
        assert abs(seconds - media_tools.decode_fully(b[common_pb2.ASSET_KIND_COMPRESSED])[1]) <= 1 / 25
        assert media_tools.top_level_boxes(a[common_pb2.ASSET_KIND_COMPRESSED])[:2] == ["ftyp", "moov"]
        assert not media_tools.is_uniform(a[common_pb2.ASSET_KIND_THUMBNAIL])
    finally:
        await stop()


@pytest.mark.both_backends
async def test_gaps_pause_the_live_path_until_they_fill(stack, recording_3s):
    data = recording_3s.read_bytes()
    n = len(split(data, 64 * 1024))
    assert n > 6
    order = [0, 1, 3, 4, 2] + list(range(5, n))
    seen = []

    async def between(sent, video_id):
        if sent == 3:  # chunks 0, 1, 3, 4 stored: the session must feed 0 and 1, then wait for 2
            session = await wait_until(lambda: stack.media.live.sessions.get(video_id), "a live session")
            await wait_until(lambda: session.fed >= 2, "chunks 0 and 1 to be fed")
            await asyncio.sleep(0.5)  # time to (wrongly) go on past the gap; it must not
            seen.append(session.fed)

    video = await wait_final(stack, await send(stack, data, order=order, chunk_size=64 * 1024, between=between), ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert seen == [2]
    assert stack.media.live.finished == 1, dict(stack.media.live.declined)
    assert asset(stack, video, common_pb2.ASSET_KIND_SOURCE).read_bytes() == data


@pytest.mark.both_backends
async def test_a_lost_live_path_leaves_the_upload_to_the_batch_path(stack, recording_3s):
    data = recording_3s.read_bytes()

    async def between(sent, video_id):
        if sent == 2:
            session = await wait_until(
                lambda: (s := stack.media.live.sessions.get(video_id)) and s.fed and s, "a live session feeding ffmpeg"
            )
            session._ffmpeg.kill()  # its ffmpeg dies; the session finds out at its next write

    video = await wait_final(stack, await send(stack, data, chunk_size=64 * 1024, between=between), ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert stack.media.live.finished == 0
    assert asset(stack, video, common_pb2.ASSET_KIND_SOURCE).read_bytes() == data
    if stack.storage.backend == "local":
        folder = asset(stack, video, common_pb2.ASSET_KIND_SOURCE).parent
        assert not list(folder.glob(".*.tmp"))  # the session's temporary files are gone
    else:  # working copies live in scratch folders, removed when the work ends; the compressed
        # rendition's encode reports READY before its workspace is closed, so wait for the end.
        await wait_until(
            lambda: not [p for p in pathlib.Path(stack.storage.scratch_root).rglob("*") if p.is_file()],
            "the scratch folders to be emptied once the work ended",
            timeout=60,
        )


@pytest.mark.both_backends
async def test_the_live_path_follows_a_long_recording(stack, recording_60s):
    video = await wait_final(
        stack, await send(stack, recording_60s.read_bytes(), chunk_size=MiB, between=followed(stack)), ALICE
    )
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert stack.media.live.finished == 1, dict(stack.media.live.declined)
    assert abs(video.media.duration_seconds - 60.0) < 0.1
    clean, seconds, errors = media_tools.decode_fully(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))
    assert clean, errors
    assert abs(seconds - 60.0) < 0.1


async def test_a_live_encode_behind_real_time_is_given_back_and_encoded_from_the_queue(
    database_url, tmp_path, recording_60s
):
    """A finished file sent at full speed arrives far faster than real time: the live encode falls
    behind the input at once. The policy stops it and gives the rendition back to the queue; the
    video is READY without it, and the queue encodes it from the original."""
    from recorder_common import metrics

    behind = metrics.LIVE_ENCODES_BEHIND.labels(action="requeued")
    before = behind._value.get()
    stack, stop = await start_stack(
        database_url,
        tmp_path / "s",
        media_overrides={"live_encode_max_lag_seconds": 2.0, "live_encode_lag_grace_seconds": 1.0},
    )
    try:
        video_id = await send(stack, recording_60s.read_bytes(), chunk_size=MiB, between=followed(stack))
        video = await wait_final(stack, video_id, ALICE)
        assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
        assert stack.media.live.finished == 1, dict(stack.media.live.declined)
        assert stack.media.live.encoders.outcomes == {"requeued": 1}
        assert behind._value.get() == before + 1
        assert stack.media.renditions.finished == 1  # encoded from the queue after READY
        done = [r for r in video.renditions if r.kind == common_pb2.RENDITION_KIND_COMPRESSED][0]
        assert done.state == common_pb2.RENDITION_STATE_READY, done.error
        messages = [e.message for e in video.history]
        assert any("PENDING: " in m and "behind the recording" in m for m in messages), messages
        clean, seconds, errors = media_tools.decode_fully(asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED))
        assert clean, errors
        assert abs(seconds - 60.0) < 0.1
    finally:
        await stop()


@pytest.mark.both_backends
async def test_a_session_that_went_away_is_picked_up_again_from_storage(stack, recording_3s):
    """As after a media restart: a new session starts from chunk 0 of what is stored."""
    data = recording_3s.read_bytes()

    gone = []

    async def between(sent, video_id):
        if sent == 2:
            await wait_until(lambda: (s := stack.media.live.sessions.get(video_id)) and s.fed, "a live session")
            gone.append(stack.media.live.sessions.pop(video_id))
            await gone[0].abandon()
        if sent == 3:  # the next chunk's hint starts a new session (before the job could take the upload)
            await wait_until(
                lambda: stack.media.live.sessions.get(video_id) not in (None, gone[0]), "a new live session"
            )

    video = await wait_final(stack, await send(stack, data, chunk_size=64 * 1024, between=between), ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert stack.media.live.finished == 1, dict(stack.media.live.declined)
    assert asset(stack, video, common_pb2.ASSET_KIND_SOURCE).read_bytes() == data


async def test_a_hint_that_arrives_after_the_job_took_the_upload_starts_nothing(tmp_path):
    """ChunkStored hints are fire-and-forget: one can arrive after the last chunk's job took the
    session. It must not start a second ffmpeg that would wait for chunks that never come."""
    from media_service.files import MediaFiles, workspaces_for
    from media_service.live import LiveSessions
    from media_service.runner import FfmpegLimits
    from media_service.settings import PROFILES
    from recorder_common.storage import LocalStorage

    storage = LocalStorage(tmp_path)
    video_id = "0123456789abcdef" * 2
    chunks = RecordedChunks()
    await chunks.write(storage, "alice", video_id, 0, b"\x1a\x45\xdf\xa3")
    live = LiveSessions(
        MediaFiles(storage, workspaces_for(storage, tmp_path / "scratch"), chunks),
        "ffmpeg",
        PROFILES["h264"],
        FfmpegLimits(),
        max_sessions=2,
        idle_seconds=5,
    )
    assert live.take(video_id) is None  # the job ran the batch path
    assert await live.notify("alice", video_id, 3) is False
    assert live.sessions == {}
    assert live.declined[video_id] == "taken by a job"


async def test_the_end_can_arrive_while_the_session_looks_past_the_last_chunk(tmp_path, recording_3s):
    """The race behind a flaky CI run: the job's finish() landed while the session was reading
    the chunk after the last one (not stored, as it does not exist); that is the end, not a gap."""
    from media_service.files import MediaFiles, workspaces_for
    from media_service.live import LiveSession
    from media_service.runner import FfmpegLimits
    from media_service.settings import PROFILES, find_ffmpeg
    from recorder_common.storage import LocalStorage

    storage = LocalStorage(tmp_path)
    video_id = "0123456789abcdef" * 2
    parts = split(recording_3s.read_bytes(), 128 * 1024)
    chunks = RecordedChunks()
    for i, part in enumerate(parts):
        await chunks.write(storage, "alice", video_id, i, part)
    files = MediaFiles(storage, workspaces_for(storage, tmp_path / "scratch"), chunks)
    session = LiveSession("alice", video_id, files, find_ffmpeg(), PROFILES["h264"], FfmpegLimits(), 30)
    real_read = files.read_chunk

    async def read_chunk(owner, video, index):
        if index == len(parts):
            session.last_index = len(parts) - 1  # what finish() does, at the worst moment
        return await real_read(owner, video, index)

    files.read_chunk = read_chunk
    session.start()
    outputs = await asyncio.wait_for(session.task, 60)
    assert session.fed == len(parts)
    assert outputs.source.read_bytes() == recording_3s.read_bytes()


def hinted_upload(tmp_path, recording: pathlib.Path):
    """For the tests of hints naming write tokens: a local store, a video id, the recording's bytes
    in at least 6 chunks, and a chunk catalog that records what it is given."""
    from recorder_common.storage import LocalStorage

    data = recording.read_bytes()
    parts = split(data, 64 * 1024)
    assert len(parts) >= 6
    return LocalStorage(tmp_path), "0123456789abcdef" * 2, data, parts, RecordedChunks()


async def test_hints_with_write_tokens_spare_the_catalog_and_a_lost_hint_does_not_stall(
    tmp_path, recording_3s, monkeypatch
):
    """Ingest's hints name each stored chunk's recorded write token, so a session reads chunk after
    chunk without a ListChunks call before and after each (two catalog calls per chunk at 32
    recordings). A lost hint is made good: the session asks the catalog when a later hint comes,
    or, with no later hint, after ASK_CATALOG_SECONDS without news."""
    from media_service import live as live_module
    from media_service.files import MediaFiles, workspaces_for
    from media_service.live import LiveSessions
    from media_service.runner import FfmpegLimits
    from media_service.settings import PROFILES, find_ffmpeg

    # No timer fallback in the first part: what is asked must not depend on the machine's speed.
    monkeypatch.setattr(live_module, "ASK_CATALOG_SECONDS", 3600.0)
    storage, video_id, data, parts, chunks = hinted_upload(tmp_path, recording_3s)
    asked: list[int] = []
    real_list = chunks.list_chunks

    async def list_chunks(owner, video, from_index, limit):
        asked.append(from_index)
        return await real_list(owner, video, from_index, limit)

    chunks.list_chunks = list_chunks
    live = LiveSessions(
        MediaFiles(storage, workspaces_for(storage, tmp_path / "scratch"), chunks),
        find_ffmpeg(),
        PROFILES["h264"],
        FfmpegLimits(),
        max_sessions=2,
        idle_seconds=600,
    )
    lost, silent = len(parts) // 2, len(parts) - 2
    try:
        for i, part in enumerate(parts[: silent + 1]):
            token = await chunks.write(storage, "alice", video_id, i, part)
            if i not in (lost, silent):  # these chunks' hints never arrive
                assert await live.notify("alice", video_id, i, {i: token})
            session = live.sessions[video_id]
            if i < lost or lost < i < silent:
                await wait_until(lambda: session.fed == i + 1, f"chunk {i} fed")
        assert asked == [lost], "the catalog is asked only about the chunk whose hint was lost"
        # The hint of `silent` is lost and no later hint comes: the timer asks.
        monkeypatch.setattr(live_module, "ASK_CATALOG_SECONDS", 0.2)  # read at each look, THUMBNAIL_CHECK_SECONDS
        await wait_until(lambda: session.fed == silent + 1, "the silently stored chunk fed")
        assert asked[-1] == silent
        token = await chunks.write(storage, "alice", video_id, len(parts) - 1, parts[-1])
        assert await live.notify("alice", video_id, len(parts) - 1, {len(parts) - 1: token})
        outputs = await asyncio.wait_for(session.finish(len(parts) - 1), 60)
        assert outputs.source.read_bytes() == data
    finally:
        await live.close()


@pytest.mark.parametrize("news", ["a later hint", "a hint without tokens"])
async def test_a_hint_that_comes_while_the_session_feeds_is_not_lost(tmp_path, recording_3s, monkeypatch, news):
    """A hint wakes the session; one that comes while it feeds a chunk (not waiting) must still
    count: when the next chunk's token is unknown (its hint was lost, or came from an ingest
    that names no tokens), that hint is what makes the session ask the catalog, not the
    ASK_CATALOG_SECONDS timer."""
    from media_service import live as live_module
    from media_service.files import MediaFiles, workspaces_for
    from media_service.live import LiveSessions
    from media_service.runner import FfmpegLimits
    from media_service.settings import PROFILES, find_ffmpeg

    monkeypatch.setattr(live_module, "ASK_CATALOG_SECONDS", 3600.0)  # only a hint may make it ask
    storage, video_id, data, parts, chunks = hinted_upload(tmp_path, recording_3s)
    files = MediaFiles(storage, workspaces_for(storage, tmp_path / "scratch"), chunks)
    feeding_2, go_on = asyncio.Event(), asyncio.Event()
    real_read = files.read_chunk

    async def read_chunk(owner, video, index):
        data = await real_read(owner, video, index)
        if index == 2 and not go_on.is_set():
            feeding_2.set()
            await go_on.wait()  # the session is busy with chunk 2 while hints come
        return data

    files.read_chunk = read_chunk
    live = LiveSessions(files, find_ffmpeg(), PROFILES["h264"], FfmpegLimits(), max_sessions=2, idle_seconds=600)
    try:
        for i in range(3):
            token = await chunks.write(storage, "alice", video_id, i, parts[i])
            assert await live.notify("alice", video_id, i, {i: token})
        session = live.sessions[video_id]
        await wait_until(feeding_2.is_set, "the session feeding chunk 2")
        await chunks.write(storage, "alice", video_id, 3, parts[3])  # its hint is lost ...
        if news == "a later hint":
            token = await chunks.write(storage, "alice", video_id, 4, parts[4])
            assert await live.notify("alice", video_id, 4, {4: token})  # ... and the next one comes
        else:
            assert await live.notify("alice", video_id, 3, {})  # ... or came without its token
        go_on.set()
        await wait_until(lambda: session.fed >= 4, "chunk 3 fed on the hint's news", timeout=10)
        for i in range(5, len(parts)):
            await chunks.write(storage, "alice", video_id, i, parts[i])
        if news != "a later hint":
            await chunks.write(storage, "alice", video_id, 4, parts[4])
        outputs = await asyncio.wait_for(session.finish(len(parts) - 1), 60)
        assert outputs.source.read_bytes() == data
    finally:
        await live.close()


async def test_hints_that_no_session_follows_leave_the_token_cache_alone(tmp_path):
    """Only a live session reads hinted tokens. A hint that starts none (a late one after the job
    took the upload, whose chunk files go once it is READY; one over the session cap) must not
    put tokens in the cache: they would outlive the files, and push the followed uploads' tokens
    out of it (REMEMBERED_VIDEOS)."""
    from media_service.files import MediaFiles, workspaces_for
    from media_service.live import LiveSessions
    from media_service.runner import FfmpegLimits
    from media_service.settings import PROFILES
    from recorder_common.storage import LocalStorage

    storage = LocalStorage(tmp_path)
    taken, unfollowed = "0123456789abcdef" * 2, "fedcba9876543210" * 2
    chunks = RecordedChunks()
    files = MediaFiles(storage, workspaces_for(storage, tmp_path / "scratch"), chunks)
    live = LiveSessions(files, "ffmpeg", PROFILES["h264"], FfmpegLimits(), max_sessions=2, idle_seconds=5)
    token = await chunks.write(storage, "alice", taken, 3, b"late")
    assert live.take(taken) is None  # the job ran the batch path ...
    await files.remove_chunks("alice", taken)  # ... and the video is READY: its chunks are gone
    assert await live.notify("alice", taken, 3, {3: token}) is False
    assert not files.knows(taken, 3), "a late hint put back the token of a removed file"

    live.max_sessions_per_user = 1
    live.per_owner = lambda: {"alice": 1}  # one of alice's uploads is followed: her cap is reached
    token = await chunks.write(storage, "alice", unfollowed, 0, b"\x1a\x45\xdf\xa3")
    assert await live.notify("alice", unfollowed, 0, {0: token}) is False
    assert not files.knows(unfollowed, 0), "a hint no session follows filled the cache"


def test_the_matroska_clock_follows_cluster_timestamps_however_the_stream_is_cut(recording_60s):
    """A live session's measure of how far a recording has arrived (the remux's -progress stays
    behind after a burst of chunks): the newest Cluster's Timestamp, the same whatever the chunk
    boundaries, never past the last packet and at most one cluster (5 s) short of it."""
    import random
    import subprocess

    from media_service import containers

    data = recording_60s.read_bytes()
    framecrc = subprocess.run(
        [media_tools.FFMPEG, "-v", "error", "-i", str(recording_60s), "-map", "0", "-c", "copy", "-f", "framecrc", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "#tb 0: 1/1000" in framecrc  # Matroska's millisecond ticks
    last_packet = max(int(line.split(",")[1]) for line in framecrc.splitlines() if not line.startswith("#")) / 1000

    whole = containers.MatroskaClock()
    whole.feed(data)
    assert not whole.stopped
    assert last_packet - 5.5 <= whole.seconds <= last_packet
    rng = random.Random(7)
    pieces, at, seen = containers.MatroskaClock(), 0, []
    while at < len(data):
        size = rng.choice([1, 2, 3, 7, 100, 4096, 65536, 300_000])  # headers cut anywhere
        pieces.feed(data[at : at + size])
        at += size
        seen.append(pieces.seconds)
    assert pieces.seconds == whole.seconds and not pieces.stopped
    assert seen == sorted(seen)
    half = containers.MatroskaClock()
    half.feed(data[: len(data) // 2])
    assert 20 < half.seconds < 40  # about half of a steady-rate minute


async def test_a_hint_naming_a_file_that_is_not_there_falls_back_to_the_catalog(tmp_path, recording_3s):
    """A hinted token is ingest's word, not the catalog's: one that names no file (a buggy or
    forged hint) is dropped at the first read that misses, and the catalog's recorded token is
    read instead. Before, the session retried the same wrong name until the upload's end, then
    failed it: "chunk N of a complete upload is not in storage"."""
    from media_service.files import MediaFiles, workspaces_for
    from media_service.live import LiveSessions
    from media_service.runner import FfmpegLimits
    from media_service.settings import PROFILES, find_ffmpeg
    from recorder_common.storage.keys import new_write_token

    storage, video_id, data, parts, chunks = hinted_upload(tmp_path, recording_3s)
    files = MediaFiles(storage, workspaces_for(storage, tmp_path / "scratch"), chunks)
    live = LiveSessions(files, find_ffmpeg(), PROFILES["h264"], FfmpegLimits(), max_sessions=2, idle_seconds=600)
    wrong = 2
    try:
        for i, part in enumerate(parts):
            token = await chunks.write(storage, "alice", video_id, i, part)
            hinted = new_write_token() if i == wrong else token  # well formed, names no file
            assert await live.notify("alice", video_id, i, {i: hinted})
        session = live.sessions[video_id]
        outputs = await asyncio.wait_for(session.finish(len(parts) - 1), 60)
        assert outputs.source.read_bytes() == data
    finally:
        await live.close()


async def test_malformed_tokens_in_a_hint_are_dropped_and_the_upload_goes_on(stack, recording_3s):
    """ChunkStored through the media server, as ingest calls it, with file tokens that are no write
    token (a path, an empty one, too long, upper case): media drops them before they name a
    file, the session keeps reading what the catalog recorded, and the upload ends READY."""
    from recorder.v1 import media_pb2, media_pb2_grpc
    from tests.videos import service

    media = media_pb2_grpc.MediaServiceStub(stack.channel(stack.media_port))
    parts = split(recording_3s.read_bytes(), 64 * 1024)
    bad = ["../../../etc/passwd", "", "a" * 33, "A" * 32, "0123456789abcdef/123456789abcdef"]
    video_id = await send(
        stack, recording_3s.read_bytes(), chunk_size=64 * 1024, order=range(len(parts) - 1), between=followed(stack)
    )
    last = len(parts) - 1
    response = await media.ChunkStored(
        media_pb2.ChunkStoredRequest(
            video_id=video_id,
            index=last,
            stored=[media_pb2.StoredChunkFile(index=last, file_token=token) for token in bad],
        ),
        metadata=service("alice"),
        timeout=10,
    )
    assert response.live
    assert not stack.media.live.files.knows(video_id, last), "a malformed token was kept"
    await put_chunk(stack, video_id, chunk(last, parts[last], True), ALICE)
    video = await wait_final(stack, video_id, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert asset(stack, video, common_pb2.ASSET_KIND_SOURCE).read_bytes() == recording_3s.read_bytes()
