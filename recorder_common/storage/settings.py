"""Which storage backend a service uses, and its settings (both backends' in one place)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class StorageSettings:
    backend: str = "local"  # "local" (STORAGE_ROOT) or "s3"
    root: str = "./data/storage"
    s3_endpoint: str = ""  # empty: AWS's own endpoint for the region
    s3_bucket: str = ""
    # Keys go under this prefix in the bucket: several deployments (or test runs) can share one.
    s3_prefix: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = dataclasses.field(default="", repr=False)
    # Where the media service keeps its working copies when the store is not a local folder.
    scratch_root: str = "./data/scratch"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "StorageSettings":
        backend = env.get("STORAGE_BACKEND", cls.backend)
        if backend not in ("local", "s3"):
            raise ValueError(f"STORAGE_BACKEND must be local or s3, not {backend!r}")
        settings = cls(
            backend=backend,
            root=env.get("STORAGE_ROOT", cls.root),
            s3_endpoint=env.get("S3_ENDPOINT", cls.s3_endpoint),
            s3_bucket=env.get("S3_BUCKET", cls.s3_bucket),
            s3_prefix=env.get("S3_PREFIX", cls.s3_prefix),
            s3_region=env.get("S3_REGION", cls.s3_region),
            s3_access_key_id=env.get("S3_ACCESS_KEY_ID", cls.s3_access_key_id),
            s3_secret_access_key=env.get("S3_SECRET_ACCESS_KEY", cls.s3_secret_access_key),
            scratch_root=env.get("SCRATCH_ROOT", cls.scratch_root),
        )
        if backend == "s3" and not settings.s3_bucket:
            raise ValueError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        return settings
