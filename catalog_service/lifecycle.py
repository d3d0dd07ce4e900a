"""A video's lifecycle as one explicit state machine, on plain data: no database, no I/O.

TRANSITIONS is the whole of it: (from-status, event) -> to-status. Every status change the
catalog makes (including the chunk group commit's UPLOADING -> UPLOADED) asks `transition` for
the next status, and conditional UPDATEs take their "from" statuses from `sources`, so a change
the table does not list cannot happen anywhere.
"""
from __future__ import annotations

import enum

from catalog_service.statuses import DELETED, EXPIRED, FAILED, PROCESSING, READY, UPLOADED, UPLOADING
from recorder_common.errors import FailedPrecondition, Reason

# Not a stored status: the video's rows are removed.
PURGED = "PURGED"


class Event(enum.Enum):
    COMPLETE_UPLOAD = "complete the upload"
    CLAIM = "claim it for processing"
    FINISH_READY = "finish processing as READY"
    FINISH_FAILED = "finish processing as FAILED"
    FAIL_EXHAUSTED = "fail it after too many interrupted attempts"
    RETRY = "retry processing"
    ABORT = "abort the upload"
    DELETE = "delete it"
    EXPIRE = "expire the upload"
    PURGE = "purge it"


TRANSITIONS: dict[tuple[str, Event], str] = {
    (UPLOADING, Event.COMPLETE_UPLOAD): UPLOADED,
    (UPLOADED, Event.CLAIM): PROCESSING,
    (PROCESSING, Event.CLAIM): PROCESSING,  # the lease lapsed (its worker died): another takes over
    (PROCESSING, Event.FINISH_READY): READY,
    (PROCESSING, Event.FINISH_FAILED): FAILED,
    (PROCESSING, Event.FAIL_EXHAUSTED): FAILED,
    (FAILED, Event.RETRY): UPLOADED,
    (UPLOADING, Event.ABORT): DELETED,
    (UPLOADING, Event.EXPIRE): EXPIRED,
    **{(status, Event.DELETE): DELETED
       for status in (UPLOADING, UPLOADED, PROCESSING, READY, FAILED, EXPIRED)},
    (DELETED, Event.PURGE): PURGED,
}

# What the caller can do instead, for each refused event.
_HINTS: dict[Event, str] = {
    Event.COMPLETE_UPLOAD: "only an upload in progress (UPLOADING) completes",
    Event.CLAIM: "only an UPLOADED video, or a PROCESSING one whose lease lapsed, can be claimed",
    Event.FINISH_READY: "only a PROCESSING video finishes; claim it first",
    Event.FINISH_FAILED: "only a PROCESSING video finishes; claim it first",
    Event.FAIL_EXHAUSTED: "only a PROCESSING video's attempts can run out",
    Event.RETRY: "only a FAILED video can be processed again",
    Event.ABORT: "there is no upload to abort (delete the video instead)",
    Event.DELETE: "it is already deleted",
    Event.EXPIRE: "only an upload in progress (UPLOADING) expires",
    Event.PURGE: "only a DELETED video is purged (delete it first)",
}


def next_status(status: str, event: Event) -> str | None:
    """The status `event` leads to from `status`, or None when the table refuses it."""
    return TRANSITIONS.get((status, event))


def transition(video_id: str, status: str, event: Event) -> str:
    """The next status, or FailedPrecondition saying why not and what to do instead."""
    target = next_status(status, event)
    if target is None:
        raise FailedPrecondition(f"video {video_id} is {status}: cannot {event.value}; {_HINTS[event]}",
                                 Reason.STATUS_CONFLICT)
    return target


def sources(event: Event) -> tuple[str, ...]:
    """The statuses `event` may start from (for a conditional UPDATE's WHERE), in a fixed order."""
    return tuple(sorted({status for status, e in TRANSITIONS if e is event}))
