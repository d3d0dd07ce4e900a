"""Adapters from the engine's ports to the catalog and media services over gRPC: the one place
ingest turns its domain types into protobuf and back.

Every call has a deadline and carries the end user it acts for plus our service identity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import grpc

from recorder.v1 import catalog_pb2, catalog_pb2_grpc, media_pb2, media_pb2_grpc
from recorder_common.auth import ServiceTokenSigner
from recorder_common.channels import InternalCaller
from recorder_common.errors import DeadlineExceeded, Unavailable
from ingest_service.ports import PendingChunk, RecordedChunks, UploadState
from recorder_common.uploads import upload_state_from
from recorder_common.vocab import ChunkOutcome, RenditionKind, VideoRef, VideoStatus


def _outcome(number: int) -> ChunkOutcome:
    outcome = ChunkOutcome.from_proto(number)
    if outcome is None:
        raise Unavailable("the catalog answered a chunk outcome this ingest does not know; try again shortly")
    return outcome


class CatalogClient:
    def __init__(self, channel: grpc.aio.Channel, signer: ServiceTokenSigner, deadline_seconds: float) -> None:
        self.stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self._call = InternalCaller(signer, "catalog", deadline_seconds)

    async def _refs(self, method: Any, request: Any) -> list[VideoRef]:
        """The videos a janitor's catalog call lists (made as the ingest service, for no user)."""
        response = await self._call(method, request, None)
        return [VideoRef(v.owner_id, v.video_id) for v in response.videos]

    async def create_video(
        self, owner_id: str, title: str, filename: str, content_type: str, expected_size: int
    ) -> str:
        response = await self._call(
            self.stub.CreateVideo,
            catalog_pb2.CreateVideoRequest(
                title=title, filename=filename, content_type=content_type, expected_size_bytes=expected_size
            ),
            owner_id,
        )
        return str(response.video.video_id)

    async def upload_state(self, owner_id: str, video_id: str, summary_only: bool = False) -> UploadState:
        response = await self._call(
            self.stub.GetUploadState,
            catalog_pb2.GetUploadStateRequest(video_id=video_id, summary_only=summary_only),
            owner_id,
        )
        return upload_state_from(response.state)

    async def record_chunks(
        self, owner_id: str, video_id: str, chunks: list[PendingChunk], max_upload_bytes: int, user_quota_bytes: int
    ) -> RecordedChunks:
        response = await self._call(
            self.stub.RecordChunks,
            catalog_pb2.RecordChunksRequest(
                video_id=video_id,
                max_upload_bytes=max_upload_bytes,
                user_quota_bytes=user_quota_bytes,
                chunks=[
                    catalog_pb2.StoredChunk(
                        index=c.index,
                        size_bytes=c.size,
                        crc32c=c.crc32c,
                        is_last=c.is_last,
                        file_token=c.file_token or "",
                    )
                    for c in chunks
                ],
            ),
            owner_id,
        )
        return RecordedChunks(
            outcomes=[_outcome(o) for o in response.outcomes],
            state=upload_state_from(response.state),
            completed_upload=response.completed_upload,
        )

    async def mark_deleted(self, owner_id: str, video_id: str, abort_only: bool) -> None:
        await self._call(
            self.stub.MarkDeleted, catalog_pb2.MarkDeletedRequest(video_id=video_id, abort_only=abort_only), owner_id
        )

    async def purge(self, owner_id: str, video_id: str) -> None:
        await self._call(self.stub.PurgeVideo, catalog_pb2.PurgeVideoRequest(video_id=video_id), owner_id)

    async def list_ready_with_chunks(self, older_than_seconds: int, limit: int) -> list[VideoRef]:
        return await self._refs(
            self.stub.ListReadyWithChunks,
            catalog_pb2.ListReadyWithChunksRequest(older_than_seconds=older_than_seconds, limit=limit),
        )

    async def forget_chunks(self, owner_id: str, video_id: str) -> int:
        response = await self._call(
            self.stub.ForgetChunks, catalog_pb2.ForgetChunksRequest(video_id=video_id), owner_id
        )
        return int(response.forgotten_chunks)

    async def retry_processing(
        self, owner_id: str, video_id: str, rendition: RenditionKind | None = None
    ) -> VideoStatus | None:
        response = await self._call(
            self.stub.RetryProcessing,
            catalog_pb2.RetryProcessingRequest(video_id=video_id, rendition=RenditionKind.proto_of(rendition)),
            owner_id,
        )
        return VideoStatus.from_proto(response.video.status)

    async def expire_stale(self, idle_seconds: int, limit: int) -> list[VideoRef]:
        return await self._refs(
            self.stub.ExpireStaleUploads, catalog_pb2.ExpireStaleUploadsRequest(idle_seconds=idle_seconds, limit=limit)
        )

    async def list_deleted(self, older_than_seconds: int, limit: int) -> list[VideoRef]:
        return await self._refs(
            self.stub.ListDeletedVideos,
            catalog_pb2.ListDeletedVideosRequest(older_than_seconds=older_than_seconds, limit=limit),
        )

    async def fail_exhausted_jobs(self, limit: int) -> list[VideoRef]:
        return await self._refs(self.stub.FailExhaustedJobs, catalog_pb2.FailExhaustedJobsRequest(limit=limit))


def rendezvous_order(key: str, replicas: int) -> list[int]:
    """Replicas in the order that key prefers them (highest random weight): every ingest replica
    computes the same order, and removing one replica moves only the keys it had."""

    def weight(i: int) -> bytes:
        return hashlib.blake2b(f"{i}/{key}".encode(), digest_size=8).digest()

    return sorted(range(replicas), key=weight, reverse=True)


class MediaClient:
    """Calls to the media replicas. Everything about one upload (its live hints, then the request
    to process it) goes to the same replica, chosen by the video id, so the replica that followed
    the upload live is the one that finishes it. If that replica is down, processing goes to the
    next one in the video's order (and the catalog's sweep would find the upload anyway)."""

    def __init__(self, channels: list[grpc.aio.Channel], signer: ServiceTokenSigner, deadline_seconds: float) -> None:
        self.stubs = [media_pb2_grpc.MediaServiceStub(channel) for channel in channels]
        self._call = InternalCaller(signer, "media", deadline_seconds)
        # Live-processing hints are worth little once late: a short deadline.
        self._hint = InternalCaller(signer, "media", min(deadline_seconds, 2.0))

    async def process(self, owner_id: str, video_id: str) -> None:
        request = media_pb2.ProcessVideoRequest(video_id=video_id)
        order = rendezvous_order(video_id, len(self.stubs))
        for n, i in enumerate(order):
            try:
                await self._call(self.stubs[i].ProcessVideo, request, owner_id)
                return
            except (Unavailable, DeadlineExceeded):
                if n == len(order) - 1:
                    raise

    async def chunk_stored(self, owner_id: str, video_id: str, index: int, files: Mapping[int, str]) -> bool:
        stub = self.stubs[rendezvous_order(video_id, len(self.stubs))[0]]
        request = media_pb2.ChunkStoredRequest(
            video_id=video_id,
            index=index,
            stored=[media_pb2.StoredChunkFile(index=i, file_token=token) for i, token in sorted(files.items())],
        )
        response = await self._hint(stub.ChunkStored, request, owner_id)
        return bool(response.live)
