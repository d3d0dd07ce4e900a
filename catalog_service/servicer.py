"""gRPC face of the catalog: proto <-> domain translation and error mapping only."""
from __future__ import annotations

import contextlib

from catalog_service import convert
from catalog_service.catalog import Catalog, MediaInfo, StoredChunk
from catalog_service.watch_hub import WatchHub
from recorder.v1 import catalog_pb2, catalog_pb2_grpc
from recorder_common.errors import InvalidArgument
from recorder_common.identity import current_caller
from recorder_common.rpc import maps_domain_errors, shielded
from recorder_common.uploads import upload_state_message
from recorder_common.vocab import AssetKind, Step, VideoRef, VideoStatus


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: Catalog, watch_hub: WatchHub | None = None) -> None:
        self.catalog = catalog
        self.watch_hub = watch_hub or WatchHub(catalog.sessions)

    # ---- public -------------------------------------------------------------------------------
    @maps_domain_errors
    @shielded
    async def GetVideo(self, request, context):
        video = await self.catalog.get_video(current_caller().require_user(), request.video_id)
        return catalog_pb2.GetVideoResponse(video=convert.video_message(video))

    @maps_domain_errors
    @shielded
    async def ListVideos(self, request, context):
        videos, token = await self.catalog.list_videos(
            current_caller().require_user(), request.page_size, request.page_token)
        return catalog_pb2.ListVideosResponse(
            videos=[convert.video_message(v, with_history=False) for v in videos], next_page_token=token)

    @maps_domain_errors
    async def WatchVideo(self, request, context):
        owner = current_caller().require_user()
        # Closed as soon as the stream ends, so the stream stops counting against the user's cap
        # even when the client goes away mid-stream.
        async with contextlib.aclosing(self.watch_hub.watch(owner, request.video_id)) as updates:
            async for video in updates:
                yield catalog_pb2.VideoUpdate(
                    video_id=video.id, status=VideoStatus.proto_of(video.status),
                    step=Step.proto_of(video.current_step), progress=video.progress or 0.0,
                    error=video.error or "", error_step=Step.proto_of(video.error_step),
                    at=convert.timestamp(video.updated_at))

    # ---- internal: ingest ---------------------------------------------------------------------
    @maps_domain_errors
    @shielded
    async def CreateVideo(self, request, context):
        caller = current_caller()
        video = await self.catalog.create_video(
            caller.require_user(), request.title, request.filename, request.content_type,
            request.expected_size_bytes)
        return catalog_pb2.CreateVideoResponse(video=convert.video_message(video))

    @maps_domain_errors
    @shielded
    async def RecordChunks(self, request, context):
        caller = current_caller()
        record = await self.catalog.record_chunks(
            caller.require_user(), request.video_id,
            [StoredChunk(c.index, c.size_bytes, c.crc32c, c.is_last, c.file_token or None) for c in request.chunks],
            request.max_upload_bytes, request.user_quota_bytes)
        return catalog_pb2.RecordChunksResponse(
            outcomes=[o.proto for o in record.outcomes],
            state=upload_state_message(record.state), completed_upload=record.completed_upload)

    @maps_domain_errors
    @shielded
    async def ListChunks(self, request, context):
        chunks = await self.catalog.list_chunks(current_caller().require_user(), request.video_id, request.from_index,
                                                request.limit)
        return catalog_pb2.ListChunksResponse(chunks=[
            catalog_pb2.StoredChunk(index=c.index, size_bytes=c.size, crc32c=c.crc32c, is_last=c.is_last,
                                    file_token=c.file_token or "") for c in chunks])

    @maps_domain_errors
    @shielded
    async def GetUploadState(self, request, context):
        state = await self.catalog.upload_state(current_caller().require_user(), request.video_id,
                                                with_indices=not request.summary_only)
        return catalog_pb2.GetUploadStateResponse(state=upload_state_message(state))

    @maps_domain_errors
    @shielded
    async def MarkDeleted(self, request, context):
        caller = current_caller()
        video = await self.catalog.mark_deleted(caller.require_user(), request.video_id, request.abort_only)
        return catalog_pb2.MarkDeletedResponse(video=convert.video_message(video, with_history=False))

    @maps_domain_errors
    @shielded
    async def PurgeVideo(self, request, context):
        caller = current_caller()
        await self.catalog.purge_video(caller.require_user(), request.video_id)
        return catalog_pb2.PurgeVideoResponse()

    @maps_domain_errors
    @shielded
    async def ExpireStaleUploads(self, request, context):
        if request.idle_seconds <= 0:
            raise InvalidArgument("idle_seconds must be positive")
        rows = await self.catalog.expire_stale_uploads(request.idle_seconds, request.limit)
        return catalog_pb2.ExpireStaleUploadsResponse(
            videos=_pending(rows))

    @maps_domain_errors
    @shielded
    async def ListDeletedVideos(self, request, context):
        rows = await self.catalog.list_deleted(max(request.older_than_seconds, 0), request.limit)
        return catalog_pb2.ListDeletedVideosResponse(
            videos=_pending(rows))

    @maps_domain_errors
    @shielded
    async def ListReadyWithChunks(self, request, context):
        rows = await self.catalog.list_ready_with_chunks(max(request.older_than_seconds, 0), request.limit)
        return catalog_pb2.ListReadyWithChunksResponse(
            videos=_pending(rows))

    @maps_domain_errors
    @shielded
    async def ForgetChunks(self, request, context):
        caller = current_caller()
        forgotten = await self.catalog.forget_chunks(caller.require_user(), request.video_id)
        return catalog_pb2.ForgetChunksResponse(forgotten_chunks=forgotten)

    @maps_domain_errors
    @shielded
    async def RetryProcessing(self, request, context):
        caller = current_caller()
        video = await self.catalog.retry_processing(caller.require_user(), request.video_id)
        return catalog_pb2.RetryProcessingResponse(video=convert.video_message(video, with_history=False))

    # ---- internal: media ----------------------------------------------------------------------
    @maps_domain_errors
    @shielded
    async def ClaimProcessing(self, request, context):
        caller = current_caller()
        claimed, video = await self.catalog.claim_processing(
            caller.require_user(), request.video_id, request.worker_id, request.lease_seconds or 60)
        return catalog_pb2.ClaimProcessingResponse(claimed=claimed, video=convert.video_message(video))

    @maps_domain_errors
    @shielded
    async def ReportProgress(self, request, context):
        caller = current_caller()
        await self.catalog.report_progress(
            caller.require_user(), request.video_id, request.worker_id,
            Step.from_proto(request.step), request.progress, request.lease_seconds or 60)
        return catalog_pb2.ReportProgressResponse()

    @maps_domain_errors
    @shielded
    async def PutAsset(self, request, context):
        caller = current_caller()
        await self.catalog.put_asset(
            caller.require_user(), request.video_id, AssetKind.from_proto(request.kind),
            request.path, request.content_type, request.size_bytes)
        return catalog_pb2.PutAssetResponse()

    @maps_domain_errors
    @shielded
    async def SetMediaInfo(self, request, context):
        caller = current_caller()
        m = request.media
        await self.catalog.set_media_info(caller.require_user(), request.video_id, MediaInfo(
            duration_seconds=m.duration_seconds or None, width=m.width or None, height=m.height or None,
            video_codec=m.video_codec or None, audio_codec=m.audio_codec or None,
            container=m.container or None))
        return catalog_pb2.SetMediaInfoResponse()

    @maps_domain_errors
    @shielded
    async def FinishProcessing(self, request, context):
        caller = current_caller()
        video = await self.catalog.finish_processing(
            caller.require_user(), request.video_id, request.worker_id,
            VideoStatus.from_proto(request.status), Step.from_proto(request.error_step), request.error)
        return catalog_pb2.FinishProcessingResponse(video=convert.video_message(video))

    @maps_domain_errors
    @shielded
    async def ListPendingProcessing(self, request, context):
        rows = await self.catalog.list_pending_processing(request.limit)
        return catalog_pb2.ListPendingProcessingResponse(
            videos=_pending(rows))

    # ---- internal: housekeeping ---------------------------------------------------------------
    @maps_domain_errors
    @shielded
    async def FailExhaustedJobs(self, request, context):
        rows = await self.catalog.fail_exhausted_jobs(request.limit)
        return catalog_pb2.FailExhaustedJobsResponse(videos=_pending(rows))


def _pending(refs: list[VideoRef]) -> list[catalog_pb2.PendingVideo]:
    return [catalog_pb2.PendingVideo(video_id=ref.video_id, owner_id=ref.owner_id) for ref in refs]
