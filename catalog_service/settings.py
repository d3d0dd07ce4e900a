from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from catalog_service.webhooks import WebhookSettings
from recorder_common import defaults
from recorder_common.auth import AuthSettings
from recorder_common.defaults import MiB


@dataclasses.dataclass(frozen=True)
class CatalogLimits:
    """Per-user limits the catalog enforces itself, so no tenant can crowd out the others."""

    # Everything a user has stored: upload bytes plus every output (0 = no quota). RecordChunks'
    # user_quota_bytes still applies on top: the stricter of the two wins.
    user_quota_bytes: int = 100 * 1024 * MiB
    max_open_uploads_per_user: int = 20  # videos UPLOADING at once
    max_processing_per_user: int = 1  # videos PROCESSING under a live lease at once
    max_processing_retries: int = 3  # owner RetryProcessing calls per video

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "CatalogLimits":
        limits = cls(
            user_quota_bytes=int(env.get("USER_QUOTA_BYTES", cls.user_quota_bytes)),
            max_open_uploads_per_user=int(env.get("MAX_OPEN_UPLOADS_PER_USER", cls.max_open_uploads_per_user)),
            max_processing_per_user=int(env.get("MAX_PROCESSING_PER_USER", cls.max_processing_per_user)),
            max_processing_retries=int(env.get("MAX_PROCESSING_RETRIES", cls.max_processing_retries)),
        )
        for field in dataclasses.fields(limits):
            if getattr(limits, field.name) < 0:
                raise ValueError(f"{field.name.upper()} must not be negative")
        if limits.max_open_uploads_per_user < 1 or limits.max_processing_per_user < 1:
            raise ValueError("MAX_OPEN_UPLOADS_PER_USER and MAX_PROCESSING_PER_USER must be at least 1")
        return limits


@dataclasses.dataclass(frozen=True)
class CatalogSettings:
    # A sync SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db
    database_url: str = "sqlite:///./data/catalog.sqlite3"
    host: str = defaults.HOST
    port: int = defaults.CATALOG_PORT
    migrate_on_start: bool = True
    log_level: str = "INFO"
    auth: AuthSettings = AuthSettings()
    limits: CatalogLimits = CatalogLimits()
    # WatchVideo: open streams per user (per catalog process), a stream's lifetime, and how often
    # watched videos are read when PostgreSQL's LISTEN/NOTIFY is not there to say they changed.
    max_watch_streams_per_user: int = 16
    watch_max_seconds: float = 3600.0
    watch_poll_seconds: float = 0.25
    # The event feed: how long events are kept, how often old ones are pruned, and how often a
    # waiting WatchEvents stream checks for events committed by another catalog replica.
    event_retention_seconds: float = 7 * 86400.0
    event_prune_interval_seconds: float = 600.0
    event_poll_seconds: float = 0.5
    webhooks: WebhookSettings = WebhookSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "CatalogSettings":
        return cls(
            **defaults.service_fields(env, "CATALOG", cls),
            database_url=env.get("DATABASE_URL", cls.database_url),
            migrate_on_start=env.get("CATALOG_MIGRATE_ON_START", "true").lower() in ("1", "true", "yes"),
            auth=AuthSettings.from_env(env),
            limits=CatalogLimits.from_env(env),
            max_watch_streams_per_user=int(env.get("MAX_WATCH_STREAMS_PER_USER", cls.max_watch_streams_per_user)),
            watch_max_seconds=float(env.get("WATCH_MAX_SECONDS", cls.watch_max_seconds)),
            watch_poll_seconds=float(env.get("WATCH_POLL_SECONDS", cls.watch_poll_seconds)),
            event_retention_seconds=_positive(env, "EVENT_RETENTION_SECONDS", cls.event_retention_seconds),
            event_prune_interval_seconds=_positive(
                env, "EVENT_PRUNE_INTERVAL_SECONDS", cls.event_prune_interval_seconds
            ),
            event_poll_seconds=_positive(env, "EVENT_POLL_SECONDS", cls.event_poll_seconds),
            webhooks=WebhookSettings.from_env(env),
        )


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    value = float(env.get(name, default))
    if value <= 0:
        raise ValueError(f"{name} must be positive")
    return value
