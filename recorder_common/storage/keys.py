"""The names of stored things, shared by every backend: keys are built only from validated
server-made ids and a fixed set of file names, so a catalog path means the same on all of them.

Layout: users/<user-id>/videos/<video-id>/{chunks/<index>.<token>.chunk, source.*, original.*, ...}
"""

from __future__ import annotations

import re
import uuid

from recorder_common.ids import check_user_id, check_video_id


class UnsafePath(Exception):
    """A path or key escaped its owner's folder: a bug, never a client error."""


_TOKEN = re.compile(r"[0-9a-f]{32}")


def new_write_token() -> str:
    """A fresh name for one write of one chunk: no two writes (retries, replicas) share a file."""
    return uuid.uuid4().hex


def is_write_token(token: str) -> bool:
    """Whether `token` has the form new_write_token() makes (and chunk_name accepts)."""
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


def chunk_name(index: int, token: str | None) -> str:
    """A chunk file is named by its index and by the write that made it. Two requests carrying the
    same chunk each write their own file; the catalog records which one is the chunk, and a request
    only ever removes its own file, so no request can remove bytes another one had acknowledged.
    token None is the index-only name of chunks stored before write tokens (migration 0002)."""
    if not isinstance(index, int) or index < 0 or index > 10**10 - 1:
        raise UnsafePath(f"chunk index out of range: {index!r}")
    if token is None:
        return f"{index:010d}.chunk"
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        raise UnsafePath(f"bad chunk write token {token!r}")
    return f"{index:010d}.{token}.chunk"


def check_media_name(file_name: str) -> str:
    """file_name comes from our own code (e.g. "original.webm"), never from a client."""
    if not file_name or "/" in file_name or "\\" in file_name or file_name.startswith("."):
        raise UnsafePath(f"bad media file name {file_name!r}")
    return file_name


def video_prefix(user_id: str, video_id: str) -> str:
    return f"users/{check_user_id(user_id)}/videos/{check_video_id(video_id)}/"


def chunk_key(user_id: str, video_id: str, index: int, token: str | None) -> str:
    return f"{video_prefix(user_id, video_id)}chunks/{chunk_name(index, token)}"


def media_key(user_id: str, video_id: str, file_name: str) -> str:
    return video_prefix(user_id, video_id) + check_media_name(file_name)


def check_key(user_id: str, key: str) -> str:
    """A key read back from the catalog: it must lie in this user's own prefix (the local store
    checks again, on the resolved path, that no symlink leads out)."""
    base = f"users/{check_user_id(user_id)}/"
    parts = key.split("/")
    if not key.startswith(base) or any(p in ("", ".", "..") for p in parts):
        raise UnsafePath(f"{key!r} is outside {base}")
    return key
