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
    # WatchVideo: open streams per user (per catalog process), a stream's lifetime, and how often
    # watched videos are read when PostgreSQL's LISTEN/NOTIFY is not there to say they changed.
    max_watch_streams_per_user: int = 16
    watch_max_seconds: float = 3600.0
    watch_poll_seconds: float = 0.25

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "CatalogSettings":
        return cls(
            database_url=env.get("DATABASE_URL", cls.database_url),
            host=env.get("CATALOG_HOST", cls.host),
            port=int(env.get("CATALOG_PORT", cls.port)),
            migrate_on_start=env.get("CATALOG_MIGRATE_ON_START", "true").lower() in ("1", "true", "yes"),
            log_level=env.get("LOG_LEVEL", cls.log_level),
            auth=AuthSettings.from_env(env),
            max_watch_streams_per_user=int(env.get("MAX_WATCH_STREAMS_PER_USER", cls.max_watch_streams_per_user)),
            watch_max_seconds=float(env.get("WATCH_MAX_SECONDS", cls.watch_max_seconds)),
            watch_poll_seconds=float(env.get("WATCH_POLL_SECONDS", cls.watch_poll_seconds)),
        )
