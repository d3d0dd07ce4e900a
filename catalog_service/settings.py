from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from recorder_common.auth import AuthSettings


@dataclasses.dataclass(frozen=True)
class CatalogSettings:
    # A sync SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db
    database_url: str = "sqlite:///./data/catalog.sqlite3"
    host: str = "127.0.0.1"
    port: int = 50061
    migrate_on_start: bool = True
    log_level: str = "INFO"
    auth: AuthSettings = AuthSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "CatalogSettings":
        return cls(
            database_url=env.get("DATABASE_URL", cls.database_url),
            host=env.get("CATALOG_HOST", cls.host),
            port=int(env.get("CATALOG_PORT", cls.port)),
            migrate_on_start=env.get("CATALOG_MIGRATE_ON_START", "true").lower() in ("1", "true", "yes"),
            log_level=env.get("LOG_LEVEL", cls.log_level),
            auth=AuthSettings.from_env(env),
        )
