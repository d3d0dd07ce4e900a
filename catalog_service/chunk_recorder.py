"""Group commit for RecordChunks: concurrent requests are recorded together in one transaction.

Every ingest replica records every chunk it stores, so this is the catalog's hottest write. One
transaction per request spends most of its time in the ORM and in round trips (about 4 ms each
on SQLite, where writers also queue behind each other). Here requests that arrive while a group
is being written wait in a queue and become the next group: the group's videos, chunks and quota
figures are read in a handful of queries, the rules (chunk_rules) run on plain data, and all of
it is written in one flush and one commit. Under load groups grow and the per-request cost falls;
alone, a request is a group of one.

Each request still succeeds or fails as a whole and is applied in arrival order; its caller hears
back only after the commit that holds it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from catalog_service.chunk_rules import StoredChunk, UploadTally, apply_chunks
from catalog_service import events
from catalog_service.lifecycle import Event, transition
from catalog_service.models import Chunk, StatusEvent, Video
from catalog_service.owners import bytes_in_use, lock_owners
from catalog_service.statuses import DELETED, UPLOADED
from recorder_common import metrics
from recorder_common.errors import DomainError, InvalidArgument, NotFound
from recorder_common.ids import check_video_id
from recorder_common.vocab import ChunkOutcome


@dataclasses.dataclass(frozen=True)
class RecordRequest:
    owner_id: str
    video_id: str
    chunks: list[StoredChunk]
    max_upload_bytes: int
    user_quota_bytes: int


@dataclasses.dataclass(frozen=True)
class RecordResult:
    outcomes: list[ChunkOutcome]
    tally: UploadTally  # the upload after this request's chunks
    completed_upload: bool


@dataclasses.dataclass
class _Waiting:
    request: RecordRequest
    future: asyncio.Future


class ChunkRecorder:
    MAX_GROUP = 256  # requests per transaction: bounds one transaction's size and lock time

    def __init__(
        self,
        transaction: Callable[[], contextlib.AbstractAsyncContextManager[AsyncSession]],
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._transaction = transaction
        self.clock = clock
        self._queue: list[_Waiting] = []
        self._writer: asyncio.Task | None = None

    async def record(self, request: RecordRequest) -> RecordResult:
        check_video_id(request.video_id)
        if not request.chunks:
            raise InvalidArgument("no chunks to record")
        for chunk in request.chunks:
            if chunk.index < 0:
                raise InvalidArgument(f"chunk index must be 0 or more, got {chunk.index}")
            if chunk.size < 0:
                raise InvalidArgument("size_bytes must not be negative")
            if chunk.size == 0 and not chunk.is_last:
                raise InvalidArgument(f"chunk {chunk.index} is empty: only the last chunk may be empty")
        waiting = _Waiting(request, asyncio.get_running_loop().create_future())
        # Retrieve the outcome even when the caller has gone, so asyncio does not log it as lost.
        waiting.future.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._queue.append(waiting)
        if self._writer is None:
            # Started on demand and gone when the queue is empty: nothing outlives its event loop.
            self._writer = asyncio.create_task(self._write_groups())
        # A caller that gives up (its RPC was cancelled) leaves the request to be recorded anyway:
        # the chunk is stored, and recording it is what a retry would do.
        return await asyncio.shield(waiting.future)

    async def _write_groups(self) -> None:
        group: list[_Waiting] = []
        try:
            while self._queue:
                group, self._queue = self._queue[: self.MAX_GROUP], self._queue[self.MAX_GROUP :]
                await self._write(group)
        finally:
            self._writer = None
            for w in group + self._queue:  # only undone when the writer was cancelled (shutdown)
                if not w.future.done():
                    w.future.cancel()
            self._queue = []

    async def _write(self, group: list[_Waiting]) -> None:
        metrics.CHUNK_GROUP_SIZE.observe(len(group))
        try:
            results: list = await self._record_group([w.request for w in group])
        except Exception as exc:  # the transaction failed: nothing in it was recorded
            if len(group) > 1:
                # Whatever broke it may be one request's doing: each alone, so only that one fails.
                for w in group:
                    await self._write([w])
                return
            results = [exc]
        for w, result in zip(group, results):
            if isinstance(result, BaseException):
                w.future.set_exception(result)
            else:
                w.future.set_result(result)

    async def _record_group(self, group: list[RecordRequest]) -> list[RecordResult | DomainError]:
        video_ids = sorted({r.video_id for r in group})
        async with self._transaction() as session:
            # Row locks in one order (by id), so concurrent groups on PostgreSQL cannot deadlock.
            videos = {
                v.id: v
                for v in (
                    await session.execute(
                        select(Video).where(Video.id.in_(video_ids)).order_by(Video.id).with_for_update()
                    )
                ).scalars()
            }
            tallies = await self._tallies(session, videos, group)
            owners = sorted({r.owner_id for r in group if r.user_quota_bytes})
            now = self.clock()
            await lock_owners(session, owners, now)  # against concurrent outputs of the same owners
            used = await bytes_in_use(session, owners)  # uploads and outputs: one usage figure
            touched: set[str] = set()
            results: list[RecordResult | DomainError] = []
            for request in group:
                video = videos.get(request.video_id)
                if video is None or video.owner_id != request.owner_id or video.status == DELETED:
                    results.append(NotFound(f"video {request.video_id} not found"))
                    continue
                trial = tallies[video.id].copy()
                try:
                    applied = apply_chunks(
                        trial,
                        request.chunks,
                        request.max_upload_bytes,
                        request.user_quota_bytes,
                        used.get(request.owner_id, 0),
                    )
                except DomainError as exc:
                    results.append(exc)
                    continue
                tallies[video.id] = trial
                if request.owner_id in used:
                    used[request.owner_id] = applied.used_bytes
                session.add_all(
                    Chunk(
                        video_id=video.id,
                        index=c.index,
                        size=c.size,
                        crc32c=c.crc32c,
                        file_token=c.file_token,
                        created_at=now,
                    )
                    for c in applied.new_chunks
                )
                if applied.completed_upload:
                    # Through the one lifecycle table, starting the status clock.
                    video.status = transition(video.id, video.status, Event.COMPLETE_UPLOAD)
                    video.status_changed_at = now
                    session.add(
                        StatusEvent(
                            video_id=video.id,
                            status=UPLOADED,
                            step=None,
                            progress=0.0,
                            message=f"{trial.received_chunks} chunks, {trial.received_bytes} bytes",
                            at=now,
                        )
                    )
                    events.emit(session, video, Event.COMPLETE_UPLOAD, now)
                touched.add(video.id)
                results.append(RecordResult(applied.outcomes, trial, applied.completed_upload))
            for vid in touched:
                video, tally = videos[vid], tallies[vid]
                video.status, video.last_index = tally.status, tally.last_index
                video.received_chunks, video.received_bytes = tally.received_chunks, tally.received_bytes
                video.updated_at = now  # a chunk, even a resent one, keeps an upload alive
        return results

    @staticmethod
    async def _tallies(
        session: AsyncSession, videos: dict[str, Video], group: list[RecordRequest]
    ) -> dict[str, UploadTally]:
        """The group's uploads as the rules need them: the stored chunks it names (to tell
        duplicates from conflicts) and, where a chunk claims to be the last, the highest index."""
        named = sorted({(r.video_id, c.index) for r in group if r.video_id in videos for c in r.chunks})
        known: dict[str, dict[int, tuple[int, int, str | None]]] = {vid: {} for vid in videos}
        if named:
            for vid, index, size, crc, token in await session.execute(
                select(Chunk.video_id, Chunk.index, Chunk.size, Chunk.crc32c, Chunk.file_token).where(
                    tuple_(Chunk.video_id, Chunk.index).in_(named)
                )
            ):
                known[vid][index] = (size, crc, token)
        finishing = sorted({r.video_id for r in group if r.video_id in videos and any(c.is_last for c in r.chunks)})
        highest: dict[str, int] = {}
        if finishing:
            highest = {
                vid: top
                for vid, top in await session.execute(
                    select(Chunk.video_id, func.max(Chunk.index))
                    .where(Chunk.video_id.in_(finishing))
                    .group_by(Chunk.video_id)
                )
            }
        return {
            vid: UploadTally(
                video_id=vid,
                status=v.status,
                last_index=v.last_index,
                received_chunks=v.received_chunks,
                received_bytes=v.received_bytes,
                highest_index=highest.get(vid),
                known=known[vid],
            )
            for vid, v in videos.items()
        }
