"""The lifecycle table on plain data: every allowed transition and every refused one."""

from __future__ import annotations

import itertools

import pytest

from catalog_service import lifecycle
from catalog_service.lifecycle import PURGED, Event, RenditionEvent, next_status, sources, transition
from catalog_service.statuses import DELETED, EXPIRED, FAILED, PROCESSING, READY, UPLOADED, UPLOADING
from recorder_common.errors import FailedPrecondition

STATUSES = (UPLOADING, UPLOADED, PROCESSING, READY, FAILED, EXPIRED, DELETED)

# Written by hand, independently of the table: what the catalog is meant to allow, as one rule
# per event (the statuses it may start from, and where it leads).
VIDEO_RULES: dict[Event, tuple[tuple[str, ...], str]] = {
    Event.COMPLETE_UPLOAD: ((UPLOADING,), UPLOADED),
    Event.CLAIM: ((UPLOADED, PROCESSING), PROCESSING),  # PROCESSING: a lapsed lease is taken over
    Event.FINISH_READY: ((PROCESSING,), READY),
    Event.FINISH_FAILED: ((PROCESSING,), FAILED),
    Event.FAIL_EXHAUSTED: ((PROCESSING,), FAILED),
    Event.RETRY: ((FAILED,), UPLOADED),
    Event.ABORT: ((UPLOADING,), DELETED),
    Event.EXPIRE: ((UPLOADING,), EXPIRED),
    Event.DELETE: (tuple(s for s in STATUSES if s != DELETED), DELETED),  # from anything not deleted
    Event.PURGE: ((DELETED,), PURGED),
}
RENDITION_STATES = ("PENDING", "PROCESSING", "READY", "FAILED")
RENDITION_RULES: dict[RenditionEvent, tuple[tuple[str, ...], str]] = {
    RenditionEvent.CLAIM: (("PENDING", "PROCESSING"), "PROCESSING"),  # PROCESSING: a lapsed lease
    RenditionEvent.COMPLETE: (("PROCESSING",), "READY"),
    RenditionEvent.FAIL: (("PROCESSING",), "FAILED"),
    RenditionEvent.GIVE_BACK: (("PROCESSING",), "PENDING"),
    RenditionEvent.RETRY: (("FAILED",), "PENDING"),
}
ALLOWED = {(status, event): target for event, (starts, target) in VIDEO_RULES.items() for status in starts}
RENDITIONS_ALLOWED = {(state, event): target for event, (starts, target) in RENDITION_RULES.items() for state in starts}
REFUSED = [pair for pair in itertools.product(STATUSES, Event) if pair not in ALLOWED]
RENDITIONS_REFUSED = [
    pair for pair in itertools.product(RENDITION_STATES, RenditionEvent) if pair not in RENDITIONS_ALLOWED
]


def test_the_table_is_exactly_the_intended_one():
    assert set(VIDEO_RULES) == set(Event) and set(RENDITION_RULES) == set(RenditionEvent)  # a rule each
    assert lifecycle.TRANSITIONS == {**ALLOWED, **RENDITIONS_ALLOWED}


def test_no_rendition_event_moves_a_video_status():
    # A FAILED rendition never un-READYs the video: rendition events only ever map rendition states.
    for (state, event), target in lifecycle.TRANSITIONS.items():
        if isinstance(event, RenditionEvent):
            assert state in RENDITION_STATES and target in RENDITION_STATES


@pytest.mark.parametrize("state,event", RENDITIONS_REFUSED, ids=lambda v: getattr(v, "name", v))
def test_rendition_refused_with_an_actionable_message(state, event):
    with pytest.raises(FailedPrecondition) as caught:
        transition("v1", state, event, rendition="COMPRESSED")
    assert f"the compressed rendition of video v1 is {state}" in caught.value.message
    assert "only" in caught.value.message


@pytest.mark.parametrize(
    "status,event", sorted(ALLOWED, key=lambda p: (p[0], p[1].name)), ids=lambda v: getattr(v, "name", v)
)
def test_allowed(status, event):
    assert transition("v1", status, event) == ALLOWED[(status, event)]
    assert next_status(status, event) == ALLOWED[(status, event)]
    assert status in sources(event)


@pytest.mark.parametrize("status,event", REFUSED, ids=lambda v: getattr(v, "name", v))
def test_refused_with_an_actionable_message(status, event):
    assert next_status(status, event) is None
    assert status not in sources(event)
    with pytest.raises(FailedPrecondition) as refused:
        transition("v1", status, event)
    message = refused.value.message
    assert message.startswith(f"video v1 is {status}: cannot {event.value}; ")
    assert len(message) > len(f"video v1 is {status}: cannot {event.value}; ") + 10  # says what to do


def test_final_statuses_only_leave_by_delete_retry_or_purge():
    for status in (READY, EXPIRED):
        assert [e for e in Event if next_status(status, e)] == [Event.DELETE]
    assert {e for e in Event if next_status(FAILED, e)} == {Event.RETRY, Event.DELETE}
    assert [e for e in Event if next_status(DELETED, e)] == [Event.PURGE]


def test_sources_are_stable_for_sql():
    for event, (starts, _) in (*VIDEO_RULES.items(), *RENDITION_RULES.items()):
        assert sources(event) == tuple(sorted(starts)), event
    assert sources(Event.CLAIM) == (PROCESSING, UPLOADED)


def test_a_video_lives_through_the_table():
    # The lives the catalog drives a video through, one transition at a time.
    lives = [
        [Event.COMPLETE_UPLOAD, Event.CLAIM, Event.FINISH_READY, Event.DELETE, Event.PURGE],
        [Event.COMPLETE_UPLOAD, Event.CLAIM, Event.CLAIM, Event.FINISH_FAILED, Event.RETRY, Event.CLAIM],
        [Event.COMPLETE_UPLOAD, Event.CLAIM, Event.FAIL_EXHAUSTED, Event.DELETE],
        [Event.ABORT, Event.PURGE],
        [Event.EXPIRE, Event.DELETE, Event.PURGE],
    ]
    ends = []
    for life in lives:
        status = UPLOADING
        for event in life:
            status = transition("v1", status, event)
        ends.append(status)
    assert ends == [PURGED, PROCESSING, DELETED, PURGED, PURGED]


def test_every_lifecycle_event_decides_what_the_feed_says():
    from catalog_service.lifecycle import FEED_EVENT_TYPES, FEED_EVENTS, RENDITION_FEED_EVENTS

    assert set(FEED_EVENTS) == set(Event)
    assert set(RENDITION_FEED_EVENTS) == set(RenditionEvent)
    told = (*FEED_EVENTS.values(), *RENDITION_FEED_EVENTS.values())
    assert {t for t in told if t} | {"video.created", "share_link.revoked"} == set(FEED_EVENT_TYPES)
    assert RENDITION_FEED_EVENTS[RenditionEvent.COMPLETE] and RENDITION_FEED_EVENTS[RenditionEvent.FAIL]
    # What backend services must hear about (issue 19): none of these may be silent.
    for event in (
        Event.COMPLETE_UPLOAD,
        Event.FINISH_READY,
        Event.FINISH_FAILED,
        Event.FAIL_EXHAUSTED,
        Event.ABORT,
        Event.DELETE,
        Event.EXPIRE,
    ):
        assert FEED_EVENTS[event], event
