from __future__ import annotations

import dataclasses

import grpc

from ingest_service.engine import UploadEngine
from ingest_service.servicer import IngestServicer
from ingest_service.settings import IngestSettings
from recorder.v1 import ingest_pb2, ingest_pb2_grpc
from recorder_common import serving

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


@dataclasses.dataclass
class IngestDeps:
    engine: UploadEngine


async def create_server(settings: IngestSettings, deps: IngestDeps) -> tuple[grpc.aio.Server, int]:
    # The receive limit follows the chunk limit, so an allowed chunk is never refused by gRPC itself.
    return await serving.create_server(
        SERVICE_NAME,
        ingest_pb2_grpc.add_IngestServiceServicer_to_server,
        IngestServicer(deps.engine),
        settings,
        max_payload_bytes=settings.limits.max_chunk_bytes,
    )
