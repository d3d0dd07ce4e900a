from __future__ import annotations

import dataclasses

import grpc

from media_service.live import LiveSessions
from media_service.ondemand import OnDemandMedia
from media_service.playback import Playback
from media_service.servicer import MediaServicer
from media_service.settings import MediaSettings
from media_service.worker import MediaWorker
from recorder.v1 import media_pb2, media_pb2_grpc
from recorder_common import serving

SERVICE_NAME = media_pb2.DESCRIPTOR.services_by_name["MediaService"].full_name


@dataclasses.dataclass
class MediaDeps:
    worker: MediaWorker
    ondemand: OnDemandMedia
    live: LiveSessions
    # The HTTP playback server, started here on settings.playback_port (None: not served).
    playback: Playback | None = None


async def create_server(settings: MediaSettings, deps: MediaDeps) -> tuple[grpc.aio.Server, int]:
    server, port = await serving.create_server(
        SERVICE_NAME,
        media_pb2_grpc.add_MediaServiceServicer_to_server,
        MediaServicer(deps.worker, deps.ondemand, deps.live, deps.playback),
        settings,
    )
    if deps.playback is not None:
        await deps.playback.start(settings.host, settings.playback_port)
    return server, port
