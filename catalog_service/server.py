from __future__ import annotations

import dataclasses

import grpc

from catalog_service.catalog import Catalog
from catalog_service.events import EventFeed
from catalog_service.servicer import CatalogServicer
from catalog_service.settings import CatalogSettings
from catalog_service.watch_hub import WatchHub
from recorder.v1 import catalog_pb2, catalog_pb2_grpc
from recorder_common import serving

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


@dataclasses.dataclass
class CatalogDeps:
    catalog: Catalog


async def create_server(settings: CatalogSettings, deps: CatalogDeps) -> tuple[grpc.aio.Server, int]:
    hub = WatchHub(
        deps.catalog.sessions,
        max_streams_per_user=settings.max_watch_streams_per_user,
        max_seconds=settings.watch_max_seconds,
        poll_seconds=settings.watch_poll_seconds,
    )
    feed = EventFeed(deps.catalog.sessions, poll_seconds=settings.event_poll_seconds)
    return await serving.create_server(
        SERVICE_NAME,
        catalog_pb2_grpc.add_CatalogServiceServicer_to_server,
        CatalogServicer(deps.catalog, hub, feed),
        settings,
    )
