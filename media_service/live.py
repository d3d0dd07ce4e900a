"""Processing while the upload is still arriving.

Ingest tells us (ChunkStored) each time a chunk is stored. For a WebM recording we start one ffmpeg
per upload and feed it the in-order prefix of the stored chunks through stdin, reading each chunk
file once; that ffmpeg copies the streams into the seekable original as they come (cheap: every
upload gets one), and we append the same bytes to the source file. A gap (a chunk not stored yet)
pauses feeding until it fills. When the upload completes, the job that processes it takes the
session, feeds what is left, and the original is done: the video can be READY at once.

While encode capacity allows (media_service/scheduler.py), a live encode (LiveEncoders) makes the compressed
rendition as the recording arrives: it claims the rendition's lease in the catalog and feeds a
second ffmpeg from the source file as it grows, so a slow encoder never holds the remux back. It
outlives the job: the video is READY when the original is, and the rendition when its encode
ends. An encode more than a bound behind the arrived input (LagPolicy) is stopped and its
rendition given back to the queue, to be encoded from the original after stop.

The live path is an optimisation, never a requirement: a session that is lost (a restart, an
error, a long pause) leaves the job to the batch path, which makes the same outputs from the
stored chunks. Per session we hold one chunk at a time, whatever the recording's length.

Bounds: at most max_sessions at once and max_sessions_per_user of one user (beyond that, uploads
take the batch path); a session gives up after idle_seconds without a new chunk; its ffmpeg may use
CPU time in proportion to the media it has encoded and may not stall (see StreamingFfmpeg); and a
session whose upload was deleted or aborted stops within about CHECK_INTERVAL_SECONDS.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import pathlib
import time
from collections.abc import Awaitable, Callable, Mapping

from media_service import commands, containers
from media_service.formats import found_family, original_format
from media_service.probe import ProbeResult, parse_probe
from media_service.admission import within_caps
from media_service.runner import (
    LIVE_COPY_MEMORY_BYTES,
    FfmpegFailed,
    FfmpegLimits,
    FfmpegOverBudget,
    StreamingFfmpeg,
    run_ffmpeg,
)
from media_service.scheduler import EncodeCapacity, LagPolicy, LiveAction
from media_service.settings import CompressionProfile, MediaLimits
from media_service.files import MediaFiles, Workspace
from media_service.link_feed import EventSource, LinkFeed
from media_service.live_thumbnail import LiveThumbnail, LiveThumbnails
from recorder_common import metrics
from recorder_common.errors import DomainError, FailedPrecondition, NotFound
from recorder_common.storage import fsync_file
from recorder_common.vocab import RenditionState

log = logging.getLogger("recorder.media.live")

# How often a session not yet taken by a job asks the catalog whether its upload still exists,
# while the catalog's event feed is not followed. While it is, a session asks only when an event
# names its upload (deleted, expired, failed, ...): at 32 sessions, asking every 0.5 s was 64
# GetVideo calls a second, most of the catalog's CPU.
CHECK_INTERVAL_SECONDS = 0.5

# Asks the catalog whether an upload is still wanted (False once deleted or aborted).
StillWanted = Callable[[str, str], Awaitable[bool]]
# How often a live encode is judged against the arrived input, and reports progress (its lease).
ENCODE_CHECK_SECONDS = 1.0
# How often a session waiting for its next chunk looks whether a live thumbnail is due.
THUMBNAIL_CHECK_SECONDS = 1.0
# A session whose hints carry the chunks' write tokens asks the catalog which chunks are recorded
# (ListChunks) only when a hint did not tell it (one was lost) and after this long without news: at
# 32 sessions, asking before and after every chunk was two catalog calls per chunk.
ASK_CATALOG_SECONDS = 3.0
# What a live encode reads from the growing source file at a time.
ENCODE_READ_BYTES = 1024 * 1024


class LiveFailed(Exception):
    """The live path cannot finish this upload; the batch path will, unless final is set: the
    input itself is over a bound (its CPU time), and the batch path would only spend it again."""

    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.final = final


@dataclasses.dataclass(frozen=True)
class LiveOutputs:
    source: pathlib.Path  # temporary files, published by the pipeline
    original: pathlib.Path
    original_name: str
    probe: ProbeResult  # of the first chunk
    # The last timestamp the remux copied and the video packets it copied: the stream's real
    # extent, read while it arrived (what stream_extent would read from the whole file again).
    remux_seconds: float | None = None
    remux_frames: int | None = None
    # The thumbnail made while it arrived (media_service/live_thumbnail.py); None: make it at stop.
    thumbnail: pathlib.Path | None = None


class LiveSession:
    def __init__(
        self,
        owner_id: str,
        video_id: str,
        files: MediaFiles,
        ffmpeg_binary: str,
        profile: CompressionProfile,
        limits: FfmpegLimits,
        idle_seconds: float,
        media_limits: MediaLimits = MediaLimits(),
        still_wanted: StillWanted | None = None,
        encoders: "LiveEncoders | None" = None,
        thumbnails: LiveThumbnails | None = None,
        followed: Callable[[], bool] = lambda: False,
    ) -> None:
        self.media_limits = media_limits
        self.encoders = encoders
        self.followed = followed  # whether the event feed tells of changes to the upload
        self._check = asyncio.Event()  # ask the catalog now
        self.thumbnails = thumbnails
        self._thumbnail: LiveThumbnail | None = None
        # What a live encode reads: the source file as it grows, and whether it is complete.
        self.source_path: pathlib.Path | None = None
        # How far the recording has arrived, from the chunks' own Cluster timestamps: the remux's
        # -progress lags behind after a burst of chunks (see containers.MatroskaClock).
        self.clock = containers.MatroskaClock()
        self.source_bytes = 0
        self.source_complete = False
        self.broken = False  # the session ended without outputs
        self.grew = asyncio.Event()
        self.owner_id, self.video_id = owner_id, video_id
        self.files = files
        # The session's outputs are written here; the job that takes them moves them into its own
        # workspace, then closes this one.
        self.workspace: Workspace = files.workspace(owner_id, video_id)
        self.ffmpeg_binary = ffmpeg_binary
        self.profile = profile
        self.limits = limits
        self.idle_seconds = idle_seconds
        self.fed = 0  # chunks fed so far: the next index to feed
        # Whether ingest's hints tell the recorded write token of each chunk (media.proto
        # ChunkStoredRequest.stored): then the catalog is asked only when they did not.
        self.tokens_hinted = False
        self._may_ask = True  # whether the next read may ask the catalog about an unknown chunk
        # The highest index a hint told of since the catalog was last asked: when it is at or past
        # the chunk we lack, that chunk may be recorded (its hint lost, or one that named no token).
        self._told_up_to = -1
        self.last_index: int | None = None
        self._wake = asyncio.Event()
        self._ffmpeg: StreamingFfmpeg | None = None
        self._temporaries: list[pathlib.Path] = []
        self.task: asyncio.Task | None = None
        self.still_wanted = still_wanted
        self._watch: asyncio.Task | None = None
        self.stopped_because: str | None = None  # the upload went away
        self.started_at = time.monotonic()
        self.last_fed_at = self.started_at

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"live-{self.video_id}")
        if self.still_wanted is not None:
            self._watch = asyncio.create_task(self._watch_upload(), name=f"live-watch-{self.video_id}")
            self.task.add_done_callback(lambda _: self._watch.cancel())

    def taken(self) -> None:
        """A job has the upload now; its lease checks stop the session if the upload goes."""
        if self._watch is not None:
            self._watch.cancel()

    def check_soon(self) -> None:
        """The upload changed (or the feed restarted): ask the catalog whether it is still wanted."""
        self._check.set()

    async def _watch_upload(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._check.wait(), CHECK_INTERVAL_SECONDS)
            except asyncio.TimeoutError:
                if self.followed():
                    continue  # no event named it: nothing to ask
            self._check.clear()
            try:
                wanted = await self.still_wanted(self.owner_id, self.video_id)
            except Exception as exc:  # the catalog is unreachable: keep going, ask again
                log.debug("live %s: could not check the upload: %s", self.video_id, exc)
                continue
            if not wanted:
                self.stopped_because = "the upload was deleted"
                log.info("live processing of %s stopped: %s", self.video_id, self.stopped_because)
                assert self.task is not None
                self.task.cancel()
                return

    def wake(self) -> None:
        self._wake.set()

    def hinted(self, index: int) -> None:
        """A hint: chunks up to `index` were stored (their tokens, if it named them, are learnt)."""
        self._told_up_to = max(self._told_up_to, index)
        self.wake()

    async def finish(self, last_index: int) -> LiveOutputs:
        """Feed up to last_index, end the input and wait for ffmpeg. Raises LiveFailed."""
        self.last_index = last_index
        self.wake()
        assert self.task is not None
        return await self.task

    async def abandon(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def _temporary(self, name: str) -> pathlib.Path:
        path = self.workspace.path(name)
        tmp = path.with_name(f".{name}.live-{os.getpid()}.tmp")
        self._temporaries.append(tmp)
        return tmp

    def arrived_seconds(self) -> float:
        """How much media has arrived: the newest Cluster fed, or the remux's progress if further
        (it copies as fast as the input comes, and reports at its end where the stream ends)."""
        return max(self.clock.seconds, self._ffmpeg.seconds_done if self._ffmpeg is not None else 0.0)

    async def _run(self) -> LiveOutputs:
        try:
            return await self._feed_all()
        except BaseException as exc:
            self.broken = True
            self.grew.set()
            if self._ffmpeg is not None:
                self._ffmpeg.kill()
            if self._thumbnail is not None:
                await self._thumbnail.cancel()
            for tmp in self._temporaries:
                tmp.unlink(missing_ok=True)
            if isinstance(exc, NotFound):  # the catalog no longer knows the upload: deleted
                self.stopped_because = "the upload was deleted"
                raise LiveFailed(self.stopped_because) from exc
            if isinstance(exc, FfmpegFailed):
                raise LiveFailed(exc.message, final=isinstance(exc, FfmpegOverBudget)) from exc
            if isinstance(exc, OSError):
                raise LiveFailed(f"storage: {exc}") from exc
            if isinstance(exc, Exception) and not isinstance(exc, LiveFailed):
                # The object store's own errors (network, throttling) among them: never fatal here.
                raise LiveFailed(f"{type(exc).__name__}: {exc}") from exc
            raise

    async def _feed_all(self) -> LiveOutputs:
        first = await self.files.read_chunk(self.owner_id, self.video_id, 0)
        # Sniffed in Python first: only an EBML recording is ever handed to ffmpeg, as matroska.
        container = containers.sniff(first)
        if container is None or container.family != "webm":
            raise LiveFailed("the first chunk is not the start of a WebM recording")
        _, text = await run_ffmpeg(
            commands.probe_args(self.ffmpeg_binary, "pipe:0", container),
            self.limits.quick().copying(),
            check=False,
            stdin_data=first,
        )
        probe = parse_probe(text)
        if found_family(probe) != "webm" or (probe.video is None and probe.audio is None) or probe.ambiguity:
            raise LiveFailed("the first chunk is not the start of a WebM recording")
        video = probe.video
        if video is not None and (video.width or 0) * (video.height or 0) > self.media_limits.max_video_pixels:
            raise LiveFailed("the video is over the frame size limit (the batch path refuses it at PROBE)")
        muxer, original_name, _ = original_format(probe)
        source = self._temporary("source.webm")
        original = self._temporary(original_name)
        self._ffmpeg = StreamingFfmpeg(
            commands.live_remux_args(self.ffmpeg_binary, container, str(original), muxer, self.media_limits),
            self.limits.copying(LIVE_COPY_MEMORY_BYTES),
        )
        await self._ffmpeg.start()
        # Unbuffered, so a live encode reading the file sees every chunk as soon as it is written.
        with open(source, "wb", buffering=0) as source_file:
            self.source_path = source
            if self.thumbnails is not None and probe.video is not None:
                self._thumbnail = self.thumbnails.follow(source, container, probe, self._temporary("thumbnail.jpg"))
            if self.encoders is not None:
                self.encoders.maybe_start(self, container, probe)
            while True:
                if self.last_index is not None and self.fed > self.last_index:
                    break
                if self.tokens_hinted and self.last_index is None and not self.files.knows(self.video_id, self.fed):
                    if not self._may_ask and self._told_up_to < self.fed:
                        await self._wait_for_more()
                        continue
                    self._told_up_to = -1  # the read asks the catalog: only later news asks again
                self._may_ask = False
                try:
                    data = await self.files.read_chunk(self.owner_id, self.video_id, self.fed)
                except FileNotFoundError:
                    if self.last_index is not None:
                        if self.fed > self.last_index:
                            # finish() came while we were reading the chunk after the last one.
                            break
                        raise LiveFailed(f"chunk {self.fed} of a complete upload is not in storage") from None
                    await self._wait_for_more()
                    continue
                await asyncio.to_thread(source_file.write, data)
                self.clock.feed(data)
                self.source_bytes += len(data)
                self.grew.set()
                await self._ffmpeg.write(data)
                self.fed += 1
                self.last_fed_at = time.monotonic()
                if self._thumbnail is not None:
                    self._thumbnail.poke(self.arrived_seconds())
        await asyncio.to_thread(fsync_file, source)
        # A recording arrives at its own pace: what is left to copy is bounded by how long it
        # took to arrive (or by what ffmpeg has done, if more).
        await self._ffmpeg.finish(self.last_fed_at - self.started_at)
        self.source_complete = True
        self.grew.set()
        thumbnail = await self._thumbnail.settle() if self._thumbnail is not None else None
        return LiveOutputs(
            source,
            original,
            original_name,
            probe,
            remux_seconds=self._ffmpeg.seconds_done or None,
            remux_frames=self._ffmpeg.frames_done or None,
            thumbnail=thumbnail,
        )

    async def _wait_for_more(self) -> None:
        """Until a hint wakes the session (or finish() does). Returns early, allowing the next
        read to ask the catalog, when ASK_CATALOG_SECONDS pass without news and the hints carry
        tokens (a lost hint must not stall the session)."""
        self._wake.clear()
        # Checked again after clearing, so a chunk stored in between is not missed.
        if self.last_index is not None or self.files.knows(self.video_id, self.fed):
            return
        if self.tokens_hinted:
            if self._told_up_to >= self.fed:  # a hint came while the catalog was asked
                return
        elif await self.files.chunk_exists(self.owner_id, self.video_id, self.fed):
            return
        started = time.monotonic()
        deadline = self.last_fed_at + self.idle_seconds  # idle: no chunk fed for that long
        while True:
            # Woken now and then while waiting: the remux's progress may have made a thumbnail due.
            wait = min(THUMBNAIL_CHECK_SECONDS, max(deadline - time.monotonic(), 0.0))
            try:
                await asyncio.wait_for(self._wake.wait(), wait)
                return
            except asyncio.TimeoutError:
                now = time.monotonic()
                if now >= deadline:
                    raise LiveFailed(f"no chunk {self.fed} for {self.idle_seconds:.0f} s") from None
                if self._thumbnail is not None:
                    self._thumbnail.poke(self.arrived_seconds())
                if self.tokens_hinted and now - started >= ASK_CATALOG_SECONDS:
                    self._may_ask = True
                    return


class LiveSessions:
    """The live sessions of this media service, at most max_sessions at once (each one is an
    ffmpeg copying at the recording's pace, plus a live encode while capacity allows); uploads
    beyond that take the batch path."""

    def __init__(
        self,
        files: MediaFiles,
        ffmpeg_binary: str,
        profile: CompressionProfile,
        limits: FfmpegLimits,
        max_sessions: int,
        idle_seconds: float,
        media_limits: MediaLimits = MediaLimits(),
        max_sessions_per_user: int = 0,
        still_wanted: StillWanted | None = None,
        encoders: "LiveEncoders | None" = None,
        thumbnails: LiveThumbnails | None = None,
        events: EventSource | None = None,
    ) -> None:
        self.files = files
        self.encoders = encoders
        # The catalog's event feed, followed (one stream) while sessions run, so they need not poll.
        self.events = events
        self.following = False
        self._feed: LinkFeed | None = None
        self.thumbnails = thumbnails
        self.media_limits = media_limits
        self.ffmpeg_binary = ffmpeg_binary
        self.profile = profile
        self.limits = limits
        self.max_sessions = max_sessions
        self.max_sessions_per_user = max_sessions_per_user
        self.idle_seconds = idle_seconds
        self.still_wanted = still_wanted
        self.sessions: dict[str, LiveSession] = {}
        self.finished = 0  # sessions whose outputs a job took (for tests and logs)
        metrics.track_live_sessions(self)
        # Uploads not to start a session for again: their session failed (not again for every
        # later chunk), or a job took it (a hint that arrives late must not start a second one).
        # Value: why, for logs and tests.
        self.declined: collections.OrderedDict[str, str] = collections.OrderedDict()

    async def notify(self, owner_id: str, video_id: str, index: int, files: Mapping[int, str] | None = None) -> bool:
        """A chunk was stored (`files`: the recorded write token of each chunk the request stored,
        so the session reads them without asking the catalog). Returns whether a live session is
        following this upload."""
        session = self.sessions.get(video_id) or await self._start(owner_id, video_id, files or {})
        if session is None:
            # Nothing here reads these tokens: kept, they would outlive the files (a late hint
            # after READY) and push the followed uploads' out of the cache (REMEMBERED_VIDEOS).
            return False
        if files:
            self.files.learn(video_id, files)
            session.tokens_hinted = True
        session.hinted(index)
        return True

    async def _start(self, owner_id: str, video_id: str, files: Mapping[int, str]) -> LiveSession | None:
        """A session for this upload, if one may follow it (or another hint started one meanwhile)."""
        if (
            self.max_sessions <= 0
            or video_id in self.declined
            or not within_caps(self.per_owner(), owner_id, self.max_sessions, self.max_sessions_per_user)
            or not (0 in files or await self.files.chunk_exists(owner_id, video_id, 0))
        ):
            return None
        if video_id in self.sessions:  # another hint started one while we asked
            return self.sessions[video_id]
        if not within_caps(self.per_owner(), owner_id, self.max_sessions, self.max_sessions_per_user):
            return None  # others started meanwhile
        session = LiveSession(
            owner_id,
            video_id,
            self.files,
            self.ffmpeg_binary,
            self.profile,
            self.limits,
            self.idle_seconds,
            self.media_limits,
            self.still_wanted,
            self.encoders,
            self.thumbnails,
            followed=lambda: self.following,
        )
        self.sessions[video_id] = session
        session.start()
        if self.events is not None and self._feed is None:
            self._feed = LinkFeed(self.events, self)
            self._feed.start()
        assert session.task is not None
        session.task.add_done_callback(lambda task: self._ended(video_id, session, task))
        return session

    # ---- the event feed (link_feed.Evicts): which uploads to ask about -----------------------
    def set_following(self, following: bool) -> None:
        self.following = following
        if following:  # a change committed before the feed opened is heard from nobody: ask once
            for session in self.sessions.values():
                session.check_soon()

    def evict_link(self, link_id: str) -> None:
        pass

    def evict_video(self, video_id: str) -> None:
        session = self.sessions.get(video_id)
        if session is not None:
            session.check_soon()

    def per_owner(self) -> dict[str, int]:
        running: dict[str, int] = collections.Counter(s.owner_id for s in self.sessions.values())
        return running

    def _ended(self, video_id: str, session: LiveSession, task: asyncio.Task) -> None:
        if self.sessions.get(video_id) is session:
            del self.sessions[video_id]  # not taken by a job: it failed, idled out or was deleted
            session.workspace.close()
            if session.stopped_because is not None:
                self.decline(video_id, session.stopped_because)
            elif not task.cancelled() and task.exception() is not None:
                log.warning("live processing of %s stopped: %s", video_id, task.exception())
                self.decline(video_id, f"failed: {task.exception()}")

    def decline(self, video_id: str, reason: str) -> None:
        self.declined[video_id] = reason
        self.declined.move_to_end(video_id)
        while len(self.declined) > 10_000:
            self.declined.popitem(last=False)

    def take(self, video_id: str) -> LiveSession | None:
        """The session for a job that is about to process this upload (it finishes it). From now
        on no new session starts for this upload."""
        self.decline(video_id, "taken by a job")
        session = self.sessions.pop(video_id, None)
        if session is not None:
            session.taken()
        return session

    async def close(self) -> None:
        if self._feed is not None:
            await self._feed.stop()
            self._feed = None
        sessions, self.sessions = list(self.sessions.values()), {}
        await asyncio.gather(*(s.abandon() for s in sessions), return_exceptions=True)
        for session in sessions:
            session.workspace.close()
        if self.encoders is not None:
            await self.encoders.close()


class LiveEncoders:
    """The live encodes of this media service: started while EncodeCapacity allows, each under
    the rendition's lease in the catalog, judged by LagPolicy."""

    def __init__(
        self,
        catalog,
        files: MediaFiles,
        encode,
        capacity: EncodeCapacity,
        limits: FfmpegLimits,
        worker_id: str,
        lease_seconds: int,
        max_lag_seconds: float,
        lag_grace_seconds: float,
        on_capacity_freed: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog, self.files, self.encode = catalog, files, encode
        self.capacity, self.limits = capacity, limits
        self.worker_id, self.lease_seconds = worker_id, lease_seconds
        self.max_lag_seconds, self.lag_grace_seconds = max_lag_seconds, lag_grace_seconds
        self.on_capacity_freed = on_capacity_freed
        self.clock = clock
        self.running: dict[str, asyncio.Task] = {}
        self.outcomes: collections.Counter[str] = collections.Counter()  # for tests and logs
        self.lags: dict[str, float] = {}  # video id -> media seconds behind, at its last check
        metrics.track_live_encoders(self)

    def maybe_start(self, session: LiveSession, container, probe: ProbeResult) -> bool:
        if session.video_id in self.running or not self.capacity.try_start_live():
            return False
        # Opened now, while the session is writing it: the job may rename it (publish) before the
        # encode reads its first byte; an open file reads on.
        assert session.source_path is not None
        source = open(session.source_path, "rb")
        task = asyncio.create_task(
            self._run(session, container, probe, source), name=f"live-encode-{session.video_id[:12]}"
        )
        task.add_done_callback(lambda _: source.close())
        self.running[session.video_id] = task
        task.add_done_callback(lambda _: self._ended(session.video_id, task))
        return True

    def _ended(self, video_id: str, task: asyncio.Task) -> None:
        if self.running.get(video_id) is task:
            del self.running[video_id]
        self.capacity.end_live()
        self.on_capacity_freed()

    async def close(self) -> None:
        tasks, self.running = list(self.running.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, session: LiveSession, container, probe: ProbeResult, source) -> None:
        owner, video_id, kind = session.owner_id, session.video_id, self.encode.kind
        try:
            claim = await self.catalog.claim_rendition(kind, self.worker_id, self.lease_seconds, owner, video_id)
        except DomainError as exc:
            log.info("live encode of %s not started: %s", video_id, exc.message)
            return
        if not claim.claimed:
            return
        outcome, message = "failed", ""
        try:
            asset = await self._encode(session, container, probe, source)
        except _Behind as behind:
            outcome, message = "requeued", str(behind)
        except (FailedPrecondition, NotFound) as exc:  # the lease or the video is gone: nothing to record
            self.outcomes["lost"] += 1
            log.info("live encode of %s stopped: %s", video_id, exc.message)
            return
        except asyncio.CancelledError:
            await self._give_back(owner, video_id, "the media service stopped")
            raise
        except (FfmpegFailed, LiveFailed, OSError, DomainError) as exc:
            message = f"the live encode stopped ({exc}); encoding from the original instead"
        else:
            try:
                await self.catalog.finish_rendition(
                    owner, video_id, kind, self.worker_id, RenditionState.READY, asset=asset
                )
                self.outcomes["ready"] += 1
                metrics.RENDITIONS_FINISHED.labels(kind=kind.value, path="live", state="READY").inc()
                return
            except DomainError as exc:  # AssetRefused (quota) among them: the queue decides again
                await self.files.remove_key(owner, asset.path)
                message = f"recording the live encode failed ({exc.message})"
        # Whatever stopped it, the rendition goes back to the queue, which encodes it from the
        # original after stop; only an encode from the original marks it FAILED.
        self.outcomes[outcome] += 1
        log.warning("live encode of %s given back to the queue: %s", video_id, message)
        await self._give_back(owner, video_id, message)

    async def _give_back(self, owner: str, video_id: str, message: str) -> None:
        try:
            await self.catalog.finish_rendition(
                owner, video_id, self.encode.kind, self.worker_id, RenditionState.PENDING, error=message
            )
        except DomainError as exc:  # its lease lapses, and the queue takes it over then
            log.info("could not give the rendition of %s back: %s", video_id, exc.message)

    async def _encode(self, session: LiveSession, container, probe: ProbeResult, source):
        ws = self.files.workspace(session.owner_id, session.video_id)
        try:
            # This encode holds the rendition's lease: what a dead encoder of it left is ours to remove.
            await asyncio.to_thread(self.encode.remove_stale, ws)
            async with self.encode.output(ws) as out:
                await self._encode_to(ws, out.tmp, session, container, probe, source)
            return self.encode.asset(out)
        finally:
            ws.close()

    async def _encode_to(
        self, ws: Workspace, tmp: pathlib.Path, session: LiveSession, container, probe, source
    ) -> None:
        video = probe.video
        hls = self.encode.hls(self.catalog, ws)  # the live playlist, for viewers while it records
        ffmpeg = StreamingFfmpeg(
            self.encode.live_args(
                container,
                str(tmp),
                has_video=video is not None,
                has_audio=probe.audio is not None,
                frame_size=(video.width or 0, video.height or 0) if video else None,
                hls=hls,
            ),
            self.encode.run_limits(self.limits, None),
        )
        started = time.monotonic()
        feeding: asyncio.Task | None = None
        try:
            if hls is not None:
                await hls.start()
            await ffmpeg.start()
            feeding = asyncio.ensure_future(self._feed(session, ffmpeg, source))
            policy = LagPolicy(self.max_lag_seconds, self.lag_grace_seconds)
            while not feeding.done():
                await asyncio.wait([feeding], timeout=ENCODE_CHECK_SECONDS)
                if feeding.done():
                    break
                arrived = session.arrived_seconds()
                action = policy.sample(self.clock(), arrived, ffmpeg.seconds_done)
                self.lags[session.video_id] = policy.lag_seconds
                metrics.LIVE_LAG_SECONDS.observe(policy.lag_seconds)
                if action is LiveAction.REQUEUE:
                    metrics.LIVE_ENCODES_BEHIND.labels(action=LiveAction.REQUEUE.value).inc()
                    raise _Behind(
                        f"{policy.lag_seconds:.1f} s of media behind the recording for "
                        f"{self.lag_grace_seconds:g} s (speed {policy.speed or 0:.2f}x)"
                    )
                total = arrived if session.source_complete else 0.0
                await self.catalog.report_rendition_progress(  # renews the lease
                    session.owner_id,
                    session.video_id,
                    self.encode.kind,
                    self.worker_id,
                    min(ffmpeg.seconds_done / total, 0.999) if total else 0.0,
                    self.lease_seconds,
                )
                if hls is not None:
                    await hls.poll()
            feeding.result()
            duration = session.arrived_seconds() or None
            await ffmpeg.finish(max(duration or 0.0, time.monotonic() - started))
            if hls is not None:
                await hls.finish()
            self.encode.check_bound(tmp, duration)
        finally:
            self.lags.pop(session.video_id, None)
            if feeding is not None and not feeding.done():
                feeding.cancel()
                await asyncio.gather(feeding, return_exceptions=True)
            if ffmpeg.process is not None and ffmpeg.process.returncode is None:
                await ffmpeg.stop()

    @staticmethod
    async def _feed(session: LiveSession, ffmpeg: StreamingFfmpeg, source) -> None:
        """Feed the source file to the encoder as it grows, until it is complete."""
        position = 0
        while True:
            if position < session.source_bytes:
                data = await asyncio.to_thread(source.read, min(ENCODE_READ_BYTES, session.source_bytes - position))
                if not data:
                    raise LiveFailed("the source file is shorter than what was written to it")
                position += len(data)
                await ffmpeg.write(data)
                continue
            if session.source_complete:
                return
            if session.broken:
                raise LiveFailed("the live remux of the recording stopped")
            session.grew.clear()
            if position < session.source_bytes or session.source_complete or session.broken:
                continue
            await session.grew.wait()


class _Behind(Exception):
    """A live encode fell behind real time (LagPolicy)."""
