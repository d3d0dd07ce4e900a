"""Chunks and media files in an S3-compatible object store (AWS S3, SeaweedFS, MinIO, R2, ...).

Why obstore: one small async API (put, get, ranged get, head, list, delete) implemented in Rust by
Apache Arrow's object_store crate, which does the network I/O off the GIL, retries with backoff,
signs requests itself and does multipart uploads for large files. Create-only puts
(`If-None-Match: *`) give the same guarantee as the local store's link(): two writers of one chunk
(two ingest replicas, a retry racing its original) cannot both create it, and neither overwrites
the other. aiobotocore would have meant botocore's large synchronous core and hand-written
multipart code for the same result.

The key layout is the local layout relative to STORAGE_ROOT (users/<id>/videos/<id>/...), built
only from validated server-made ids, so the catalog's file paths mean the same thing on both
backends. Nothing here keeps state between calls: any replica can serve any request.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import pathlib
from collections.abc import Mapping
from typing import Any, cast

import obstore
from obstore.store import S3Store

from recorder_common.ids import check_user_id, check_video_id
from recorder_common.storage import LocalStorage, UnsafePath, chunk_name, check_media_name

# Objects at least this big are uploaded in parts (and several parts at once).
MULTIPART_CHUNK_BYTES = 8 * 1024 * 1024


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
    # Where the media service keeps its working copies when the store is remote.
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


class ObjectStorage:
    """The same operations as LocalStorage's async ones, on an S3-compatible store."""

    remote = True

    def __init__(self, settings: StorageSettings) -> None:
        options = {"allow_http": True} if settings.s3_endpoint.startswith("http://") else {}
        config: Any = {"region": settings.s3_region}  # obstore's S3Config (a TypedDict)
        if settings.s3_endpoint:
            config["endpoint"] = settings.s3_endpoint
        if settings.s3_access_key_id:
            config["access_key_id"] = settings.s3_access_key_id
            config["secret_access_key"] = settings.s3_secret_access_key
        self.store = S3Store(
            settings.s3_bucket,
            prefix=settings.s3_prefix.strip("/") or None,
            config=config,
            client_options=cast(Any, options),
            # Path-style for self-hosted endpoints (SeaweedFS, MinIO); AWS prefers virtual hosts.
            virtual_hosted_style_request=not settings.s3_endpoint,
        )
        self.bucket = settings.s3_bucket

    # ---- keys --------------------------------------------------------------------------------
    @staticmethod
    def video_prefix(user_id: str, video_id: str) -> str:
        return f"users/{check_user_id(user_id)}/videos/{check_video_id(video_id)}/"

    def chunk_key(self, user_id: str, video_id: str, index: int, token: str | None) -> str:
        return f"{self.video_prefix(user_id, video_id)}chunks/{chunk_name(index, token)}"

    def media_key(self, user_id: str, video_id: str, file_name: str) -> str:
        return self.video_prefix(user_id, video_id) + check_media_name(file_name)

    def check_key(self, user_id: str, key: str) -> str:
        """A key read back from the catalog: it must lie in this user's own prefix."""
        base = f"users/{check_user_id(user_id)}/"
        parts = key.split("/")
        if not key.startswith(base) or any(p in ("", ".", "..") for p in parts):
            raise UnsafePath(f"{key!r} is outside {base}")
        return key

    # ---- chunks ------------------------------------------------------------------------------
    async def write_chunk(self, user_id: str, video_id: str, index: int, token: str, data: bytes) -> None:
        """One write of a chunk under its own key; create-only (If-None-Match), so a reused token
        fails instead of replacing a chunk."""
        await obstore.put_async(self.store, self.chunk_key(user_id, video_id, index, token), data, mode="create")

    async def read_chunk_size(self, user_id: str, video_id: str, index: int, token: str | None) -> int:
        """Raises FileNotFoundError when the chunk is not stored."""
        return await self.size(self.chunk_key(user_id, video_id, index, token))

    async def read_chunk(self, user_id: str, video_id: str, index: int, token: str | None) -> bytes:
        """Raises FileNotFoundError when the chunk is not stored."""
        return await self.read(self.chunk_key(user_id, video_id, index, token))

    async def remove_chunk(self, user_id: str, video_id: str, index: int, token: str) -> None:
        await self._delete([self.chunk_key(user_id, video_id, index, token)])

    async def remove_chunks(self, user_id: str, video_id: str) -> None:
        await self._delete_prefix(self.video_prefix(user_id, video_id) + "chunks/")

    async def remove_video(self, user_id: str, video_id: str) -> None:
        await self._delete_prefix(self.video_prefix(user_id, video_id))

    # ---- files -------------------------------------------------------------------------------
    async def read(self, key: str) -> bytes:
        result = await obstore.get_async(self.store, key)
        return bytes(await result.bytes_async())

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        return bytes(await obstore.get_range_async(self.store, key, start=start, length=length))

    async def size(self, key: str) -> int:
        """Raises FileNotFoundError when there is no such object."""
        return int((await obstore.head_async(self.store, key))["size"])

    async def head(self, key: str) -> tuple[int, str]:
        """Size and the store's ETag. Raises FileNotFoundError when there is no such object."""
        meta = await obstore.head_async(self.store, key)
        size = int(meta["size"])
        etag = (meta.get("e_tag") or "").strip('"') or f"{size:x}"
        return size, f'"{etag}"'

    async def exists(self, key: str) -> bool:
        try:
            await obstore.head_async(self.store, key)
            return True
        except FileNotFoundError:
            return False

    async def input_url(self, key: str, valid_seconds: int = 900) -> str:
        """A short-lived presigned GET URL for ffmpeg to read the object over HTTP, with range
        requests, so it fetches only what it needs (a thumbnail at 10:00 of a long recording
        reads a few hundred KiB, not the whole file). It grants reading this one object for
        valid_seconds, and is only handed to an ffmpeg on this host. Raises FileNotFoundError
        when there is no such object."""
        await obstore.head_async(self.store, key)
        return await obstore.sign_async(self.store, "GET", key, dt.timedelta(seconds=valid_seconds))

    async def upload(self, path: pathlib.Path, key: str) -> None:
        """Put a finished local file under key (replacing what was there: outputs are
        deterministic, and a job that runs again writes the same thing)."""
        with open(path, "rb") as f:
            await obstore.put_async(self.store, key, f, chunk_size=MULTIPART_CHUNK_BYTES, max_concurrency=4)

    async def download(self, key: str, path: pathlib.Path) -> None:
        """Copy an object to a local file (written under a temporary name, then renamed)."""
        tmp = path.with_name(f".{path.name}.download.tmp")
        result = await obstore.get_async(self.store, key)
        try:
            with open(tmp, "wb") as out:
                async for part in result.stream(min_chunk_size=MULTIPART_CHUNK_BYTES):
                    await asyncio.to_thread(out.write, part)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    async def remove_key(self, key: str) -> None:
        await self._delete([key])

    async def _delete(self, keys: list[str]) -> None:
        if keys:
            await obstore.delete_async(self.store, keys)

    async def _delete_prefix(self, prefix: str) -> None:
        async for batch in obstore.list(self.store, prefix, chunk_size=1000):
            await self._delete([item["path"] for item in batch])


def open_storage(settings: StorageSettings) -> LocalStorage | ObjectStorage:
    if settings.backend == "s3":
        return ObjectStorage(settings)
    return LocalStorage(settings.root)
