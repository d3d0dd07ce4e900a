"""Server-made identifiers and the strict patterns every id must match before it is used.

Only ids that pass these checks ever become part of a storage path.
"""

from __future__ import annotations

import re
import uuid

from recorder_common.errors import InvalidArgument, Unauthenticated

VIDEO_ID_PATTERN = re.compile(r"\A[0-9a-f]{32}\Z")
# A user id comes from the authenticated identity. No dots or slashes, so it can never climb a path.
USER_ID_PATTERN = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")


def new_video_id() -> str:
    return uuid.uuid4().hex


def check_video_id(video_id: str) -> str:
    if not VIDEO_ID_PATTERN.match(video_id or ""):
        raise InvalidArgument("video_id must be the 32-character lowercase hex id returned by CreateUpload")
    return video_id


def is_valid_user_id(user_id: str) -> bool:
    return bool(USER_ID_PATTERN.match(user_id or ""))


def check_user_id(user_id: str) -> str:
    if not is_valid_user_id(user_id):
        raise Unauthenticated("the caller's user id must be 1-64 characters of A-Z, a-z, 0-9, _ or -")
    return user_id
