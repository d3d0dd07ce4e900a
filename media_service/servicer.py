"""gRPC face of the media service: translation and error mapping only."""
from __future__ import annotations

from media_service.worker import MediaWorker
from recorder.v1 import common_pb2, media_pb2, media_pb2_grpc
from recorder_common.identity import current_caller
from recorder_common.ids import check_video_id
from recorder_common.rpc import maps_domain_errors


class MediaServicer(media_pb2_grpc.MediaServiceServicer):
    def __init__(self, worker: MediaWorker) -> None:
        self.worker = worker

    @maps_domain_errors
    async def ProcessVideo(self, request, context):
        caller = current_caller()
        caller.require_service()
        owner = caller.require_user()
        self.worker.submit(owner, check_video_id(request.video_id))
        return media_pb2.ProcessVideoResponse(accepted=True, status=common_pb2.VIDEO_STATUS_UPLOADED)
