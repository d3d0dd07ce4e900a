"""python -m catalog_service: serve the catalog (settings from the environment)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from catalog_service import db
from catalog_service.background import CatalogBackground
from catalog_service.catalog import Catalog
from catalog_service.server import CatalogDeps, create_server
from catalog_service.settings import CatalogSettings
from recorder_common import serving


@contextlib.asynccontextmanager
async def start(settings: CatalogSettings) -> AsyncIterator[serving.Running]:
    if settings.migrate_on_start:
        await asyncio.to_thread(db.migrate, settings.database_url)
    engine = db.create_engine(settings.database_url)
    catalog = Catalog(db.session_factory(engine), limits=settings.limits, webhook_endpoints=settings.webhooks.endpoints)
    server, port = await create_server(settings, CatalogDeps(catalog))
    background = CatalogBackground(catalog, settings)
    background.start()
    try:
        yield serving.Running(server, port, on_stop=background.stop)
    finally:
        await background.stop()
        await engine.dispose()


def main() -> None:
    serving.main("catalog", CatalogSettings.from_env, start)


if __name__ == "__main__":
    main()
