"""Builds the engine with its production adapters from settings."""

from __future__ import annotations

import dataclasses

import grpc

from ingest_service.engine import UploadEngine
from ingest_service.grpc_clients import CatalogClient, MediaClient
from ingest_service.janitor import Janitor
from ingest_service.settings import IngestSettings
from recorder_common.auth import ServiceTokenSigner
from recorder_common.channels import open_channel
from recorder_common.defaults import MESSAGE_BYTES
from recorder_common.objectstore import open_storage


@dataclasses.dataclass
class IngestParts:
    engine: UploadEngine
    janitor: Janitor
    channels: list[grpc.aio.Channel]

    async def close(self) -> None:
        await self.engine.close()
        for channel in self.channels:
            await channel.close()


def build(settings: IngestSettings) -> IngestParts:
    catalog_channel = open_channel(settings.catalog_target, MESSAGE_BYTES)
    # One channel per media replica (MEDIA_TARGET is a comma-separated list): uploads are routed
    # to replicas by video id, not balanced call by call.
    media_channels = [
        open_channel(target.strip(), MESSAGE_BYTES) for target in settings.media_target.split(",") if target.strip()
    ]
    store = open_storage(settings.storage)
    signer = ServiceTokenSigner(settings.auth, "ingest")
    catalog = CatalogClient(catalog_channel, signer, settings.catalog_deadline_seconds)
    engine = UploadEngine(
        store=store,
        catalog=catalog,
        media=MediaClient(media_channels, signer, settings.media_deadline_seconds),
        limits=settings.limits,
    )
    janitor = Janitor(
        catalog,
        store,
        settings.upload_idle_expiry_seconds,
        settings.tombstone_grace_seconds,
        settings.ready_chunks_grace_seconds,
    )
    return IngestParts(engine, janitor, [catalog_channel, *media_channels])
