"""gRPC face of the media service: translation and error mapping only."""

from __future__ import annotations

from media_service.live import LiveSessions
from media_service.ondemand import OnDemandMedia, StoredAsset
from media_service.playback import Playback
from media_service.worker import MediaWorker
from recorder.v1 import common_pb2, media_pb2, media_pb2_grpc
from recorder_common.errors import FailedPrecondition, InvalidArgument
from recorder_common.identity import current_caller
from recorder_common.ids import check_video_id
from recorder_common.rpc import maps_domain_errors
from recorder_common.vocab import AssetKind, AudioFormat, ImageFormat


def _asset(asset: StoredAsset) -> common_pb2.Asset:
    return common_pb2.Asset(
        kind=AssetKind.proto_of(asset.kind), path=asset.path, size_bytes=asset.size, content_type=asset.content_type
    )


def _name(enum, value: int, prefix: str) -> str:
    # PlaybackKind (issue 18) is not in recorder_common/vocab.py yet: its one remaining spelling.
    return enum.Name(value).removeprefix(prefix) if value in enum.values() else "UNKNOWN"


class MediaServicer(media_pb2_grpc.MediaServiceServicer):
    def __init__(
        self, worker: MediaWorker, ondemand: OnDemandMedia, live: LiveSessions, playback: Playback | None = None
    ) -> None:
        self.playback = playback
        self.worker = worker
        self.ondemand = ondemand
        self.live = live

    @maps_domain_errors
    async def ProcessVideo(self, request, context):
        caller = current_caller()
        owner = caller.require_user()
        self.worker.submit(owner, check_video_id(request.video_id))
        return media_pb2.ProcessVideoResponse(accepted=True, status=common_pb2.VIDEO_STATUS_UPLOADED)

    @maps_domain_errors
    async def ChunkStored(self, request, context):
        caller = current_caller()
        if request.index < 0:
            raise InvalidArgument("index must be 0 or more")
        # The tokens name files (keys.chunk_name checks their form); only ingest may call this.
        files = {f.index: f.file_token for f in request.stored if f.index >= 0 and f.file_token}
        live = await self.live.notify(caller.require_user(), check_video_id(request.video_id), request.index, files)
        return media_pb2.ChunkStoredResponse(live=live)

    @maps_domain_errors
    async def ExtractAudio(self, request, context):
        asset = await self.ondemand.extract_audio(
            current_caller().require_user(),
            request.video_id,
            AudioFormat.name_of(request.format),
            request.bitrate_kbps,
            request.mp3_quality if request.HasField("mp3_quality") else None,
        )
        return media_pb2.ExtractAudioResponse(asset=_asset(asset))

    @maps_domain_errors
    async def MakeThumbnail(self, request, context):
        asset = await self.ondemand.thumbnail(
            current_caller().require_user(),
            request.video_id,
            request.at_seconds if request.HasField("at_seconds") else None,
            request.width,
            "" if not request.format else ImageFormat.name_of(request.format),
        )
        return media_pb2.MakeThumbnailResponse(asset=_asset(asset))

    @maps_domain_errors
    async def MakePreview(self, request, context):
        asset = await self.ondemand.preview(
            current_caller().require_user(),
            request.video_id,
            request.start_seconds if request.HasField("start_seconds") else None,
            request.seconds,
            request.width,
            request.fps,
            "" if not request.format else ImageFormat.name_of(request.format),
        )
        return media_pb2.MakePreviewResponse(asset=_asset(asset))

    @maps_domain_errors
    async def Download(self, request, context):
        asset, pieces = await self.ondemand.download(
            current_caller().require_user(), request.video_id, AssetKind.name_of(request.kind), request.offset
        )
        first = True
        try:
            async for offset, data in pieces:
                yield media_pb2.DownloadChunk(
                    offset=offset,
                    data=data,
                    total_size=asset.size if first else 0,
                    content_type=asset.content_type if first else "",
                )
                first = False
        finally:
            await pieces.aclose()  # closes the file at once when the client goes away
        if first:  # nothing left to send (offset == size): still say how big the asset is
            yield media_pb2.DownloadChunk(offset=request.offset, total_size=asset.size, content_type=asset.content_type)

    @maps_domain_errors
    async def GetPlaybackUrl(self, request, context):
        if self.playback is None:
            raise FailedPrecondition("this media service does not serve playback")
        family = "" if not request.kind else _name(media_pb2.PlaybackKind, request.kind, "PLAYBACK_KIND_").lower()
        if family == "unknown":
            raise InvalidArgument("kind is not a PlaybackKind")
        url, chosen, content_type, expires = await self.playback.playback_url(
            current_caller().require_user(), request.video_id, family
        )
        return media_pb2.GetPlaybackUrlResponse(
            url=url,
            kind=media_pb2.PlaybackKind.Value(f"PLAYBACK_KIND_{chosen.upper()}"),
            content_type=content_type,
            expires_at_unix=expires,
        )
