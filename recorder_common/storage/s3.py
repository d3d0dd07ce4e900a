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
import datetime as dt
import pathlib
from typing import Any, cast

import obstore
from obstore.store import S3Store

from recorder_common.storage import keys
from recorder_common.storage.contract import ObjectStat
from recorder_common.storage.settings import StorageSettings

# Objects at least this big are uploaded in parts (and several parts at once).
MULTIPART_CHUNK_BYTES = 8 * 1024 * 1024


class ObjectStorage:
    """A Store with Transfers and Presigner, on an S3-compatible object store."""

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
    def chunk_key(self, user_id: str, video_id: str, index: int, token: str | None) -> str:
        return keys.chunk_key(user_id, video_id, index, token)

    def media_key(self, user_id: str, video_id: str, file_name: str) -> str:
        return keys.media_key(user_id, video_id, file_name)

    def check_key(self, user_id: str, key: str) -> str:
        return keys.check_key(user_id, key)

    # ---- chunks ------------------------------------------------------------------------------
    async def write_chunk(self, user_id: str, video_id: str, index: int, token: str, data: bytes) -> None:
        """One write of a chunk under its own key; create-only (If-None-Match), so a reused token
        fails instead of replacing a chunk."""
        await obstore.put_async(self.store, self.chunk_key(user_id, video_id, index, token), data, mode="create")

    async def read_chunk_size(self, user_id: str, video_id: str, index: int, token: str | None) -> int:
        """Raises FileNotFoundError when the chunk is not stored."""
        return (await self.stat(self.chunk_key(user_id, video_id, index, token))).size

    async def read_chunk(self, user_id: str, video_id: str, index: int, token: str | None) -> bytes:
        """Raises FileNotFoundError when the chunk is not stored."""
        return await self.read(self.chunk_key(user_id, video_id, index, token))

    async def remove_chunk(self, user_id: str, video_id: str, index: int, token: str) -> None:
        await self._delete([self.chunk_key(user_id, video_id, index, token)])

    async def remove_chunks(self, user_id: str, video_id: str) -> None:
        await self._delete_prefix(keys.video_prefix(user_id, video_id) + "chunks/")

    async def remove_video(self, user_id: str, video_id: str) -> None:
        await self._delete_prefix(keys.video_prefix(user_id, video_id))

    # ---- files -------------------------------------------------------------------------------
    async def read(self, key: str) -> bytes:
        result = await obstore.get_async(self.store, key)
        return bytes(await result.bytes_async())

    async def read_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        return bytes(await obstore.get_range_async(self.store, key, start=start, length=length))

    async def stat(self, key: str) -> ObjectStat:
        """Size and the store's ETag. Raises FileNotFoundError when there is no such object."""
        meta = await obstore.head_async(self.store, key)
        size = int(meta["size"])
        etag = (meta.get("e_tag") or "").strip('"') or f"{size:x}"
        return ObjectStat(size, f'"{etag}"')

    async def presigned_get(self, key: str, valid_seconds: int = 900) -> str:
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

    async def _delete(self, names: list[str]) -> None:
        if names:
            await obstore.delete_async(self.store, names)

    async def _delete_prefix(self, prefix: str) -> None:
        async for batch in obstore.list(self.store, prefix, chunk_size=1000):
            await self._delete([item["path"] for item in batch])
