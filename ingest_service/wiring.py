"""Builds the engine with its production adapters from settings."""
from __future__ import annotations

import grpc

from ingest_service.engine import UploadEngine
from ingest_service.grpc_clients import CatalogClient, MediaClient
from ingest_service.settings import IngestSettings
from recorder_common.channels import open_channel
from recorder_common.storage import LocalStorage


def build_engine(settings: IngestSettings) -> tuple[UploadEngine, list[grpc.aio.Channel]]:
    catalog_channel = open_channel(settings.catalog_target, 4 * 1024 * 1024)
    media_channel = open_channel(settings.media_target, 4 * 1024 * 1024)
    engine = UploadEngine(
        store=LocalStorage(settings.storage_root),
        catalog=CatalogClient(catalog_channel, settings.catalog_deadline_seconds),
        media=MediaClient(media_channel, settings.media_deadline_seconds),
        limits=settings.limits,
    )
    return engine, [catalog_channel, media_channel]
