"""gRPC face of the catalog: proto <-> domain translation and error mapping only."""

from __future__ import annotations

import contextlib
import logging

from catalog_service import convert, webhooks
from catalog_service.catalog import Catalog, MediaInfo, RenditionAsset, StoredChunk
from catalog_service.catalog import ProcessingOutput
from catalog_service.events import EventFeed
from catalog_service.lifecycle import FEED_EVENT_TYPES, SHARE_LINK_REVOKED
from catalog_service.share_links import REVOKE_PROPAGATION_SECONDS, ShareLinks, share_link_message
from catalog_service.watch_hub import WatchHub
from recorder.v1 import catalog_pb2, catalog_pb2_grpc
from recorder_common.errors import InvalidArgument
from recorder_common.identity import current_caller
from recorder_common.rpc import maps_domain_errors, shielded
from recorder_common.uploads import upload_state_message
from recorder_common.vocab import (
    AssetKind,
    RenditionState,
    Step,
    VideoRef,
    VideoStatus,
    rendition_kind,
    rendition_state,
)

log = logging.getLogger("recorder.catalog.servicer")

DEFAULT_LEASE_SECONDS = 60


class CatalogServicer(catalog_pb2_grpc.CatalogServiceServicer):
    def __init__(self, catalog: Catalog, watch_hub: WatchHub | None = None, feed: EventFeed | None = None) -> None:
        self.catalog = catalog
        self.watch_hub = watch_hub or WatchHub(catalog.sessions)
        self.feed = feed or EventFeed(catalog.sessions)
        self.share_links = ShareLinks(catalog)

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
            current_caller().require_user(), request.page_size, request.page_token
        )
        return catalog_pb2.ListVideosResponse(
            videos=[convert.video_message(v, with_history=False) for v in videos], next_page_token=token
        )

    @maps_domain_errors
    async def WatchVideo(self, request, context):
        owner = current_caller().require_user()
        # Closed as soon as the stream ends, so the stream stops counting against the user's cap
        # even when the client goes away mid-stream.
        async with contextlib.aclosing(self.watch_hub.watch(owner, request.video_id)) as updates:
            async for video in updates:
                yield convert.video_update(video)

    @maps_domain_errors
    @shielded
    async def CreateShareLink(self, request, context):
        link = await self.share_links.create(
            current_caller().require_user(), request.video_id, request.expires_in_seconds, request.allow_download
        )
        return catalog_pb2.CreateShareLinkResponse(link=share_link_message(link))

    @maps_domain_errors
    @shielded
    async def ListShareLinks(self, request, context):
        links = await self.share_links.list(current_caller().require_user(), request.video_id)
        return catalog_pb2.ListShareLinksResponse(links=[share_link_message(x) for x in links])

    @maps_domain_errors
    @shielded
    async def RevokeShareLink(self, request, context):
        link, cursor = await self.share_links.revoke(current_caller().require_user(), request.link_id)
        if cursor is not None:
            # Answer once every media replica following this process has been sent the
            # revocation, so the owner's next request (and any viewer's) is refused; a follower that
            # does not take it in time is not waited for longer (the link cache's TTL bounds it).
            if not await self.feed.delivered(cursor, SHARE_LINK_REVOKED, REVOKE_PROPAGATION_SECONDS):
                log.warning("share link revocation not yet sent to every playback server")
        return catalog_pb2.RevokeShareLinkResponse(link=share_link_message(link))

    # ---- internal: media's playback server ----------------------------------------------------
    @maps_domain_errors
    @shielded
    async def ResolveShareLink(self, request, context):
        resolved = await self.share_links.resolve(request.link_id)
        if not resolved.active:
            return catalog_pb2.ResolveShareLinkResponse(state=catalog_pb2.SHARE_LINK_STATE_GONE)
        link, video = resolved.link, resolved.video
        response = catalog_pb2.ResolveShareLinkResponse(
            state=catalog_pb2.SHARE_LINK_STATE_ACTIVE,
            owner_id=link.owner_id,
            video_id=link.video_id,
            title=video.title,
            allow_download=link.allow_download,
            video=convert.video_message(video, with_history=False),
        )
        if link.expires_at is not None:
            response.expires_at.CopyFrom(convert.timestamp(link.expires_at))
        return response

    # ---- internal: ingest ---------------------------------------------------------------------
    @maps_domain_errors
    @shielded
    async def CreateVideo(self, request, context):
        caller = current_caller()
        video = await self.catalog.create_video(
            caller.require_user(), request.title, request.filename, request.content_type, request.expected_size_bytes
        )
        return catalog_pb2.CreateVideoResponse(video=convert.video_message(video))

    @maps_domain_errors
    @shielded
    async def RecordChunks(self, request, context):
        caller = current_caller()
        record = await self.catalog.record_chunks(
            caller.require_user(),
            request.video_id,
            [StoredChunk(c.index, c.size_bytes, c.crc32c, c.is_last, c.file_token or None) for c in request.chunks],
            request.max_upload_bytes,
            request.user_quota_bytes,
        )
        return catalog_pb2.RecordChunksResponse(
            outcomes=[o.proto for o in record.outcomes],
            state=upload_state_message(record.state),
            completed_upload=record.completed_upload,
        )

    @maps_domain_errors
    @shielded
    async def ListChunks(self, request, context):
        chunks = await self.catalog.list_chunks(
            current_caller().require_user(), request.video_id, request.from_index, request.limit
        )
        return catalog_pb2.ListChunksResponse(
            chunks=[
                catalog_pb2.StoredChunk(
                    index=c.index, size_bytes=c.size, crc32c=c.crc32c, is_last=c.is_last, file_token=c.file_token or ""
                )
                for c in chunks
            ]
        )

    @maps_domain_errors
    @shielded
    async def GetUploadState(self, request, context):
        state = await self.catalog.upload_state(
            current_caller().require_user(), request.video_id, with_indices=not request.summary_only
        )
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
        return catalog_pb2.ExpireStaleUploadsResponse(videos=_pending(rows))

    @maps_domain_errors
    @shielded
    async def ListDeletedVideos(self, request, context):
        rows = await self.catalog.list_deleted(max(request.older_than_seconds, 0), request.limit)
        return catalog_pb2.ListDeletedVideosResponse(videos=_pending(rows))

    @maps_domain_errors
    @shielded
    async def ListReadyWithChunks(self, request, context):
        rows = await self.catalog.list_ready_with_chunks(max(request.older_than_seconds, 0), request.limit)
        return catalog_pb2.ListReadyWithChunksResponse(videos=_pending(rows))

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
        video = await self.catalog.retry_processing(
            caller.require_user(), request.video_id, _kind(request.rendition, required=False)
        )
        return catalog_pb2.RetryProcessingResponse(video=convert.video_message(video, with_history=False))

    # ---- internal: media ----------------------------------------------------------------------
    @maps_domain_errors
    @shielded
    async def ClaimProcessing(self, request, context):
        caller = current_caller()
        claimed, video = await self.catalog.claim_processing(
            caller.require_user(), request.video_id, request.worker_id, _lease_seconds(request)
        )
        return catalog_pb2.ClaimProcessingResponse(claimed=claimed, video=convert.video_message(video))

    @maps_domain_errors
    @shielded
    async def ReportProgress(self, request, context):
        caller = current_caller()
        await self.catalog.report_progress(
            caller.require_user(),
            request.video_id,
            request.worker_id,
            Step.from_proto(request.step),
            request.progress,
            _lease_seconds(request),
        )
        return catalog_pb2.ReportProgressResponse()

    @maps_domain_errors
    @shielded
    async def PutAsset(self, request, context):
        caller = current_caller()
        await self.catalog.put_asset(
            caller.require_user(),
            request.video_id,
            AssetKind.from_proto(request.kind),
            request.path,
            request.content_type,
            request.size_bytes,
        )
        return catalog_pb2.PutAssetResponse()

    @maps_domain_errors
    @shielded
    async def SetMediaInfo(self, request, context):
        caller = current_caller()
        await self.catalog.set_media_info(caller.require_user(), request.video_id, _media_info(request.media))
        return catalog_pb2.SetMediaInfoResponse()

    @maps_domain_errors
    @shielded
    async def FinishProcessing(self, request, context):
        caller = current_caller()
        if request.assets or request.HasField("media"):
            if VideoStatus.from_proto(request.status) != VideoStatus.READY:
                raise InvalidArgument("outputs and media facts are recorded only with READY")
            video = await self.catalog.finish_processing_ready(
                caller.require_user(),
                request.video_id,
                request.worker_id,
                [
                    ProcessingOutput(AssetKind.from_proto(a.kind), a.path, a.content_type, a.size_bytes)
                    for a in request.assets
                ],
                _media_info(request.media) if request.HasField("media") else None,
            )
            return catalog_pb2.FinishProcessingResponse(video=convert.video_message(video))
        video = await self.catalog.finish_processing(
            caller.require_user(),
            request.video_id,
            request.worker_id,
            VideoStatus.from_proto(request.status),
            Step.from_proto(request.error_step),
            request.error,
        )
        return catalog_pb2.FinishProcessingResponse(video=convert.video_message(video))

    @maps_domain_errors
    @shielded
    async def ListPendingProcessing(self, request, context):
        rows = await self.catalog.list_pending_processing(request.limit)
        return catalog_pb2.ListPendingProcessingResponse(videos=_pending(rows))

    @maps_domain_errors
    @shielded
    async def ClaimRendition(self, request, context):
        caller = current_caller()
        kind = _kind(request.kind)
        # With a video, that video's rendition (a live encode); without, the next queued one.
        owner_id, video_id = (caller.require_user(), request.video_id) if request.video_id else (None, None)
        claim = await self.catalog.claim_rendition(request.worker_id, _lease_seconds(request), kind, owner_id, video_id)
        if not claim.claimed:
            return catalog_pb2.ClaimRenditionResponse(claimed=False)
        return catalog_pb2.ClaimRenditionResponse(
            claimed=True,
            video=convert.video_message(claim.video, with_history=False),
            owner_id=claim.owner_id,
            kind=request.kind,
        )

    @maps_domain_errors
    @shielded
    async def ReportRenditionProgress(self, request, context):
        await self.catalog.report_rendition_progress(
            current_caller().require_user(),
            request.video_id,
            _kind(request.kind),
            request.worker_id,
            request.progress,
            _lease_seconds(request),
        )
        return catalog_pb2.ReportRenditionProgressResponse()

    @maps_domain_errors
    @shielded
    async def FinishRendition(self, request, context):
        try:
            state = rendition_state(request.state)
        except ValueError:
            state = None
        if state is None:
            raise InvalidArgument("state must be READY, FAILED or PENDING")
        asset = None
        if state == RenditionState.READY:
            a = request.asset
            asset = RenditionAsset(path=a.path, content_type=a.content_type, size=a.size_bytes)
        await self.catalog.finish_rendition(
            current_caller().require_user(),
            request.video_id,
            _kind(request.kind),
            request.worker_id,
            state,
            asset,
            request.error,
        )
        return catalog_pb2.FinishRenditionResponse()

    # ---- internal: housekeeping ---------------------------------------------------------------
    @maps_domain_errors
    @shielded
    async def FailExhaustedJobs(self, request, context):
        rows = await self.catalog.fail_exhausted_jobs(request.limit)
        return catalog_pb2.FailExhaustedJobsResponse(videos=_pending(rows))

    # ---- internal: the event feed ---------------------------------------------------------------
    @maps_domain_errors
    async def WatchEvents(self, request, context):
        for t in request.types:
            if t not in FEED_EVENT_TYPES:
                raise InvalidArgument(f"unknown event type {t[:40]!r}; known: {', '.join(FEED_EVENT_TYPES)}")
        after = request.after_cursor
        if request.from_newest:
            after = await self.feed.newest()
            # The starting point is fixed: the caller hears every event committed from here on.
            await context.send_initial_metadata(())
        async with contextlib.aclosing(self.feed.follow(after, request.types)) as feed:
            async for row in feed:
                yield convert.feed_event(row)

    @maps_domain_errors
    @shielded
    async def ListWebhookDeliveries(self, request, context):
        state = convert.delivery_state_name(request.state)
        rows = await webhooks.list_deliveries(self.catalog, state, request.after_id, request.limit)
        return catalog_pb2.ListWebhookDeliveriesResponse(deliveries=[convert.webhook_delivery(r) for r in rows])


def _pending(refs: list[VideoRef]) -> list[catalog_pb2.PendingVideo]:
    return [catalog_pb2.PendingVideo(video_id=ref.video_id, owner_id=ref.owner_id) for ref in refs]


def _lease_seconds(request) -> int:
    """The lease a claim or progress report asks for; unset (0) is the default lease."""
    return request.lease_seconds or DEFAULT_LEASE_SECONDS


def _kind(value: int, required: bool = True):
    try:
        kind = rendition_kind(value)
    except ValueError:
        raise InvalidArgument(f"unknown rendition kind {value}") from None
    if kind is None and required:
        raise InvalidArgument("a rendition kind is required")
    return kind


def _media_info(m) -> MediaInfo:
    """A MediaInfo message's facts; zero or empty is unknown."""
    return MediaInfo(
        duration_seconds=m.duration_seconds or None,
        width=m.width or None,
        height=m.height or None,
        video_codec=m.video_codec or None,
        audio_codec=m.audio_codec or None,
        container=m.container or None,
    )
