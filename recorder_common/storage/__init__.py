"""Storage for chunks and media files: one contract (contract.py), two backends (a local folder,
local.py; an S3-compatible object store, s3.py), chosen by settings (settings.py)."""

from __future__ import annotations

from recorder_common.storage.contract import LocalPaths, ObjectStat, Presigner, Store, Transfers
from recorder_common.storage.keys import UnsafePath, check_media_name, chunk_name, new_write_token
from recorder_common.storage.local import LocalStorage, fsync_file, publish
from recorder_common.storage.settings import StorageSettings

__all__ = [
    "LocalPaths",
    "LocalStorage",
    "ObjectStat",
    "Presigner",
    "StorageSettings",
    "Store",
    "Transfers",
    "UnsafePath",
    "check_media_name",
    "chunk_name",
    "fsync_file",
    "new_write_token",
    "open_storage",
    "publish",
]


def open_storage(settings: StorageSettings) -> Store:
    if settings.backend == "s3":
        # Imported only here: a service on local storage never loads the S3 client.
        from recorder_common.storage.s3 import ObjectStorage

        return ObjectStorage(settings)
    return LocalStorage(settings.root)
