"""The media service's calls to the catalog: every call has a deadline and names the owner."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

import grpc

from media_service.files import RecordedChunk
from media_service.ondemand import StoredAsset, VideoFacts
from media_service.pipeline import HeldAsset, MediaFacts
from media_service.playback import LinkState
from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2
from recorder_common.auth import ServiceTokenSigner
from recorder_common.channels import InternalCaller
from recorder_common.errors import Reason, ResourceExhausted, Unavailable, from_rpc_error
from recorder_common.messages import media_info
from recorder_common.vocab import (
    AssetKind,
    RenditionKind,
    RenditionState,
    Step,
    VideoRef,
    VideoStatus,
    rendition_kind_enum,
    rendition_state_enum,
)


class AssetRefused(ResourceExhausted):
    """The catalog refused to record an output (the owner's storage quota): the file at `path`
    is not the video's and must go. Still RESOURCE_EXHAUSTED to an on-demand caller."""

    def __init__(self, message: str, path: str, reason: Reason | None = None) -> None:
        super().__init__(message, reason)
        self.path = path
        self.relayed = True  # the catalog's refusal, counted there


@contextlib.contextmanager
def _refused_output(path: str | None) -> Iterator[None]:
    """A catalog call recording an output: a refusal (the owner's storage quota) becomes
    AssetRefused naming the file that must go. With no output (None) a refusal stays as it is."""
    try:
        yield
    except ResourceExhausted as exc:
        if path is None:
            raise
        raise AssetRefused(exc.message, path, exc.reason) from exc


class MediaCatalogClient:
    def __init__(self, channel: grpc.aio.Channel, signer: ServiceTokenSigner, deadline_seconds: float) -> None:
        self.stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self._call = InternalCaller(signer, "catalog", deadline_seconds)

    async def claim(
        self, owner_id: str, video_id: str, worker_id: str, lease_seconds: int
    ) -> catalog_pb2.ClaimProcessingResponse:
        return await self._call(
            self.stub.ClaimProcessing,
            catalog_pb2.ClaimProcessingRequest(video_id=video_id, worker_id=worker_id, lease_seconds=lease_seconds),
            owner_id,
        )

    async def report_progress(
        self, owner_id: str, video_id: str, worker_id: str, step: str, progress: float, lease_seconds: int
    ) -> None:
        await self._call(
            self.stub.ReportProgress,
            catalog_pb2.ReportProgressRequest(
                video_id=video_id,
                worker_id=worker_id,
                step=Step.proto_of(step),
                progress=progress,
                lease_seconds=lease_seconds,
            ),
            owner_id,
        )

    async def put_asset(self, owner_id: str, video_id: str, kind: str, path: str, content_type: str, size: int) -> None:
        with _refused_output(path):
            await self._call(
                self.stub.PutAsset,
                catalog_pb2.PutAssetRequest(
                    video_id=video_id,
                    kind=AssetKind.proto_of(kind),
                    path=path,
                    content_type=content_type,
                    size_bytes=size,
                ),
                owner_id,
            )

    async def set_media_info(self, owner_id: str, video_id: str, facts: MediaFacts) -> None:
        await self._call(
            self.stub.SetMediaInfo,
            catalog_pb2.SetMediaInfoRequest(video_id=video_id, media=media_info(facts)),
            owner_id,
        )

    async def finish(
        self,
        owner_id: str,
        video_id: str,
        worker_id: str,
        ready: bool,
        error_step: str | None = None,
        error: str = "",
        outputs: Sequence[HeldAsset] = (),
        facts: MediaFacts | None = None,
    ) -> None:
        """READY or FAILED; a READY may carry the job's outputs and media facts, recorded in the
        same transaction. Those outputs over the owner's quota: AssetRefused (nothing recorded)."""
        with _refused_output(outputs[0].key if outputs else None):
            await self._call(
                self.stub.FinishProcessing,
                catalog_pb2.FinishProcessingRequest(
                    video_id=video_id,
                    worker_id=worker_id,
                    status=(VideoStatus.READY if ready else VideoStatus.FAILED).proto,
                    error_step=Step.proto_of(error_step),
                    error=error,
                    assets=[
                        common_pb2.Asset(
                            kind=AssetKind.proto_of(a.kind), path=a.key, content_type=a.content_type, size_bytes=a.size
                        )
                        for a in outputs
                    ],
                    media=media_info(facts) if facts is not None else None,
                ),
                owner_id,
            )

    async def claim_rendition(
        self,
        kind: RenditionKind,
        worker_id: str,
        lease_seconds: int,
        owner_id: str | None = None,
        video_id: str | None = None,
    ) -> catalog_pb2.ClaimRenditionResponse:
        """That video's rendition (a live encode), or with no video the next queued one."""
        return await self._call(
            self.stub.ClaimRendition,
            catalog_pb2.ClaimRenditionRequest(
                video_id=video_id or "",
                kind=rendition_kind_enum(kind),
                worker_id=worker_id,
                lease_seconds=lease_seconds,
            ),
            owner_id,
        )

    async def report_rendition_progress(
        self, owner_id: str, video_id: str, kind: RenditionKind, worker_id: str, progress: float, lease_seconds: int
    ) -> None:
        await self._call(
            self.stub.ReportRenditionProgress,
            catalog_pb2.ReportRenditionProgressRequest(
                video_id=video_id,
                kind=rendition_kind_enum(kind),
                worker_id=worker_id,
                progress=progress,
                lease_seconds=lease_seconds,
            ),
            owner_id,
        )

    async def finish_rendition(
        self,
        owner_id: str,
        video_id: str,
        kind: RenditionKind,
        worker_id: str,
        state: RenditionState,
        asset: common_pb2.Asset | None = None,
        error: str = "",
    ) -> None:
        """READY (asset), FAILED (error) or PENDING (given back). A READY over the owner's quota
        raises AssetRefused: the file must go, and the rendition is then FAILED."""
        with _refused_output(asset.path if asset is not None else None):
            await self._call(
                self.stub.FinishRendition,
                catalog_pb2.FinishRenditionRequest(
                    video_id=video_id,
                    kind=rendition_kind_enum(kind),
                    worker_id=worker_id,
                    state=rendition_state_enum(state),
                    asset=asset,
                    error=error,
                ),
                owner_id,
            )

    async def list_chunks(self, owner_id: str, video_id: str, from_index: int, limit: int) -> list[RecordedChunk]:
        response = await self._call(
            self.stub.ListChunks,
            catalog_pb2.ListChunksRequest(video_id=video_id, from_index=from_index, limit=limit),
            owner_id,
        )
        return [RecordedChunk(c.index, c.file_token or None) for c in response.chunks]

    async def list_pending(self, limit: int) -> list[VideoRef]:
        response = await self._call(
            self.stub.ListPendingProcessing, catalog_pb2.ListPendingProcessingRequest(limit=limit), None
        )
        return [VideoRef(v.owner_id, v.video_id) for v in response.videos]

    async def video_facts(self, owner_id: str, video_id: str) -> VideoFacts:
        """The owner's video as on-demand work needs it; another user's answers NOT_FOUND."""
        video = (await self._call(self.stub.GetVideo, catalog_pb2.GetVideoRequest(video_id=video_id), owner_id)).video
        return VideoFacts(
            status=VideoStatus.name_of(video.status),
            duration_seconds=video.media.duration_seconds,
            width=video.media.width,
            height=video.media.height,
            video_codec=video.media.video_codec,
            audio_codec=video.media.audio_codec,
            assets={
                AssetKind.name_of(a.kind): StoredAsset(AssetKind.name_of(a.kind), a.path, a.size_bytes, a.content_type)
                for a in video.assets
            },
        )

    async def resolve_share_link(self, link_id: str) -> LinkState:
        """A share link's state for the playback server, for nobody's behalf (the link is the
        viewer's credential)."""
        response = await self._call(
            self.stub.ResolveShareLink, catalog_pb2.ResolveShareLinkRequest(link_id=link_id), None
        )
        if response.state != catalog_pb2.SHARE_LINK_STATE_ACTIVE:
            return LinkState(active=False)
        video = response.video
        return LinkState(
            active=True,
            owner_id=response.owner_id,
            video_id=response.video_id,
            title=response.title,
            status=VideoStatus.name_of(video.status),
            duration_seconds=video.media.duration_seconds,
            assets={AssetKind.name_of(a.kind): a.path for a in video.assets},
            expires_at=response.expires_at.ToDatetime().timestamp() if response.HasField("expires_at") else None,
            allow_download=response.allow_download,
        )

    async def follow_events(
        self, types: tuple[str, ...], on_open: Callable[[], None]
    ) -> AsyncIterator[tuple[str, str, str]]:
        """(type, video id, link id) of each event of these types committed from now on, for as
        long as the stream lasts (no deadline); on_open once the catalog has fixed the start."""
        call = self.stub.WatchEvents(
            catalog_pb2.WatchEventsRequest(types=list(types), from_newest=True), metadata=self._call.metadata(None)
        )
        try:
            await call.initial_metadata()
            if call.done():  # refused or lost before it started: what it said, below
                async for _ in call:
                    pass
                raise Unavailable("the catalog's event feed ended before it started")
            on_open()
            async for event in call:
                yield event.type, event.video_id, event.link_id
            raise Unavailable("the catalog's event feed ended")
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, "catalog") from exc
        finally:
            call.cancel()
