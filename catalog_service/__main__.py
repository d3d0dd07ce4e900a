"""python -m catalog_service: serve the catalog (settings from the environment)."""

from __future__ import annotations

import asyncio
import os

from catalog_service import db
from catalog_service.background import CatalogBackground
from catalog_service.catalog import Catalog
from catalog_service.server import CatalogDeps, create_server
from catalog_service.settings import CatalogSettings
from recorder_common.logs import configure_logging
from recorder_common.metrics import serve_metrics_from_env
from recorder_common.tracing import configure_tracing
from recorder_common.serving import run_until_terminated


async def serve(settings: CatalogSettings) -> None:
    if settings.migrate_on_start:
        await asyncio.to_thread(db.migrate, settings.database_url)
    engine = db.create_engine(settings.database_url)
    catalog = Catalog(db.session_factory(engine), limits=settings.limits, webhook_endpoints=settings.webhooks.endpoints)
    server, port = await create_server(settings, CatalogDeps(catalog))
    background = CatalogBackground(catalog, settings)
    background.start()
    try:
        await run_until_terminated(server, "catalog", port, on_stop=background.stop)
    finally:
        await background.stop()
        await engine.dispose()


def main() -> None:
    settings = CatalogSettings.from_env(os.environ)
    configure_logging("catalog", settings.log_level)
    serve_metrics_from_env(os.environ)
    configure_tracing("catalog", os.environ)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
