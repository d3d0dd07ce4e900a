"""A video's lifecycle, and its renditions', as one explicit state machine on plain data: no
database, no I/O.

TRANSITIONS is the whole of it: (from-state, event) -> to-state. Video events (Event) move a
video's status; rendition events (RenditionEvent) move one rendition's state (PENDING,
PROCESSING, READY, FAILED), and no rendition event touches the video's status: a FAILED
rendition never un-READYs a watchable video. Every change the catalog makes (including the chunk
group commit's UPLOADING -> UPLOADED) asks `transition` for the next state, and conditional
UPDATEs take their "from" states from `sources`, so a change the table does not list cannot
happen anywhere.
"""

from __future__ import annotations

import enum

from catalog_service.statuses import DELETED, EXPIRED, FAILED, PROCESSING, READY, UPLOADED, UPLOADING
from recorder_common.errors import FailedPrecondition, Reason
from recorder_common.vocab import RenditionState

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


class RenditionEvent(enum.Enum):
    CLAIM = "claim the rendition for encoding"
    COMPLETE = "complete the rendition"
    FAIL = "fail the rendition"
    GIVE_BACK = "give the rendition back to the queue"
    RETRY = "retry the rendition"


_PENDING, _ENCODING = RenditionState.PENDING.value, RenditionState.PROCESSING.value
_DONE, _BROKEN = RenditionState.READY.value, RenditionState.FAILED.value

TRANSITIONS: dict[tuple[str, Event | RenditionEvent], str] = {
    (UPLOADING, Event.COMPLETE_UPLOAD): UPLOADED,
    (UPLOADED, Event.CLAIM): PROCESSING,
    (PROCESSING, Event.CLAIM): PROCESSING,  # the lease lapsed (its worker died): another takes over
    (PROCESSING, Event.FINISH_READY): READY,
    (PROCESSING, Event.FINISH_FAILED): FAILED,
    (PROCESSING, Event.FAIL_EXHAUSTED): FAILED,
    (FAILED, Event.RETRY): UPLOADED,
    (UPLOADING, Event.ABORT): DELETED,
    (UPLOADING, Event.EXPIRE): EXPIRED,
    **{(status, Event.DELETE): DELETED for status in (UPLOADING, UPLOADED, PROCESSING, READY, FAILED, EXPIRED)},
    (DELETED, Event.PURGE): PURGED,
    # Renditions. A live encode claims while the recording arrives, the queue after READY.
    (_PENDING, RenditionEvent.CLAIM): _ENCODING,
    (_ENCODING, RenditionEvent.CLAIM): _ENCODING,  # its lease lapsed (the encoder died): taken over
    (_ENCODING, RenditionEvent.COMPLETE): _DONE,
    (_ENCODING, RenditionEvent.FAIL): _BROKEN,
    # A live encode that fell behind real time: encoded from the original after stop instead.
    (_ENCODING, RenditionEvent.GIVE_BACK): _PENDING,
    (_BROKEN, RenditionEvent.RETRY): _PENDING,
}

# What the caller can do instead, for each refused event.
_HINTS: dict[Event | RenditionEvent, str] = {
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
    RenditionEvent.CLAIM: "only a PENDING rendition, or a PROCESSING one whose lease lapsed, can be claimed",
    RenditionEvent.COMPLETE: "only a PROCESSING rendition completes; claim it first",
    RenditionEvent.FAIL: "only a PROCESSING rendition fails; claim it first",
    RenditionEvent.GIVE_BACK: "only a PROCESSING rendition can be given back",
    RenditionEvent.RETRY: "only a FAILED rendition can be retried",
}


# The event feed (catalog_service/events.py): what each lifecycle event tells backend services,
# written to the outbox in the transaction that applies it. None: not worth telling (a claim, a
# takeover after a lost lease, a purge of a video whose deletion was already announced). Every
# Event must appear here (a unit test holds it), so a new one is a decision, not an omission.
VIDEO_CREATED = "video.created"  # not a transition: the row is born UPLOADING
FEED_EVENTS: dict[Event, str | None] = {
    Event.COMPLETE_UPLOAD: "video.upload_completed",
    Event.CLAIM: None,
    Event.FINISH_READY: "video.ready",
    Event.FINISH_FAILED: "video.failed",
    Event.FAIL_EXHAUSTED: "video.failed",
    Event.RETRY: "video.retried",
    Event.ABORT: "video.deleted",
    Event.DELETE: "video.deleted",
    Event.EXPIRE: "video.expired",
    Event.PURGE: None,
}
# A rendition's claims, takeovers and hand-backs to the queue are the media service's business;
# a consumer hears when one is ready to serve or has failed.
RENDITION_FEED_EVENTS: dict[RenditionEvent, str | None] = {
    RenditionEvent.CLAIM: None,
    RenditionEvent.COMPLETE: "rendition.ready",
    RenditionEvent.FAIL: "rendition.failed",
    RenditionEvent.GIVE_BACK: None,
    RenditionEvent.RETRY: None,
}
# Not a lifecycle transition either: the owner revoked a share link (RevokeShareLink). Every media
# replica follows it to stop serving the link at once (media_service/link_feed.py).
SHARE_LINK_REVOKED = "share_link.revoked"
FEED_EVENT_TYPES: tuple[str, ...] = tuple(
    sorted(
        {
            VIDEO_CREATED,
            SHARE_LINK_REVOKED,
            *(t for t in (*FEED_EVENTS.values(), *RENDITION_FEED_EVENTS.values()) if t),
        }
    )
)


def feed_event(event: Event | RenditionEvent) -> str | None:
    """The event-feed type a lifecycle or rendition event emits, or None."""
    return RENDITION_FEED_EVENTS[event] if isinstance(event, RenditionEvent) else FEED_EVENTS[event]


def next_status(status: str, event: Event | RenditionEvent) -> str | None:
    """The status `event` leads to from `status`, or None when the table refuses it."""
    return TRANSITIONS.get((status, event))


def transition(video_id: str, status: str, event: Event | RenditionEvent, rendition: str | None = None) -> str:
    """The next state, or FailedPrecondition saying why not and what to do instead. For a
    rendition event, `rendition` names the kind and `status` is the rendition's state."""
    target = next_status(status, event)
    if target is None:
        subject = f"the {rendition.lower()} rendition of video {video_id}" if rendition else f"video {video_id}"
        raise FailedPrecondition(
            f"{subject} is {status}: cannot {event.value}; {_HINTS[event]}", Reason.STATUS_CONFLICT
        )
    return target


def sources(event: Event | RenditionEvent) -> tuple[str, ...]:
    """The statuses `event` may start from (for a conditional UPDATE's WHERE), in a fixed order."""
    return tuple(sorted({status for status, e in TRANSITIONS if e is event}))
