from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from recorder_common import defaults
from recorder_common.auth import AuthSettings
from recorder_common.defaults import MiB
from recorder_common.storage import StorageSettings


@dataclasses.dataclass(frozen=True)
class UploadLimits:
    max_chunk_bytes: int = 8 * MiB
    max_chunks: int = 100_000
    max_upload_bytes: int = 20 * 1024 * MiB
    # Bytes of uploads a user may hold (all videos not deleted or expired); 0 turns it off.
    user_quota_bytes: int = 100 * 1024 * MiB
    # A client stream that sends nothing for this long is closed (what it sent is kept).
    stream_idle_seconds: float = 60.0
    # Chunk bytes this ingest process holds at once across all calls and streams: beyond it new
    # chunks wait (streams stop reading, so HTTP/2 flow control pushes back on the sender).
    max_inflight_bytes: int = 256 * MiB


@dataclasses.dataclass(frozen=True)
class IngestSettings:
    storage: StorageSettings = StorageSettings()
    host: str = defaults.HOST
    port: int = defaults.INGEST_PORT
    catalog_target: str = defaults.CATALOG_TARGET
    media_target: str = defaults.MEDIA_TARGET
    catalog_deadline_seconds: float = 10.0
    media_deadline_seconds: float = 5.0
    limits: UploadLimits = UploadLimits()
    # An upload with no chunk for this long expires and its bytes are removed.
    upload_idle_expiry_seconds: int = 24 * 3600
    janitor_interval_seconds: float = 60.0
    # Deleted videos' rows are purged after this grace, when no worker can still be writing.
    tombstone_grace_seconds: int = 600
    # A READY video's chunk rows are kept this long (a late resend is still a DUPLICATE), then
    # forgotten, after removing any chunk files media left behind.
    ready_chunks_grace_seconds: int = 3600
    log_level: str = "INFO"
    auth: AuthSettings = AuthSettings()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "IngestSettings":
        return cls(
            **defaults.service_fields(env, "INGEST", cls),
            **defaults.env_fields(env, cls),
            storage=StorageSettings.from_env(env),
            limits=UploadLimits(**defaults.env_fields(env, UploadLimits, _UPLOAD_LIMITS_ENV)),
            auth=AuthSettings.from_env(env),
        )


# The ingest settings' variables are their fields' names in capitals (env_fields' default), but this one's.
_UPLOAD_LIMITS_ENV = defaults.variables_by_name(UploadLimits, renamed={"max_chunks": "MAX_CHUNKS_PER_UPLOAD"})
