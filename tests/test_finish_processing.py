"""A job's one call at the end (finish_processing_ready): its outputs, media facts and READY in
one transaction, on real SQLite and PostgreSQL databases (no server needed)."""

from __future__ import annotations

import dataclasses

import pytest

from catalog_service.catalog import Catalog, MediaInfo, ProcessingOutput
from recorder_common.errors import FailedPrecondition, InvalidArgument, Reason, ResourceExhausted

SOURCE = ProcessingOutput("SOURCE", "users/alice/v/source.webm", "video/webm", 100)
ORIGINAL = ProcessingOutput("ORIGINAL", "users/alice/v/original.webm", "video/webm", 100)
THUMBNAIL = ProcessingOutput("THUMBNAIL", "users/alice/v/thumbnail.jpg", "image/jpeg", 10)
FACTS = MediaInfo(duration_seconds=30.0, width=1920, height=1080, video_codec="vp8", container="webm")


async def claimed_upload(catalog: Catalog, worker: str = "w") -> str:
    vid = (await catalog.create_video("alice", "demo", "demo.webm", "video/webm", 0)).id
    await catalog.record_chunk("alice", vid, 0, 100, 0, True)
    claimed, _ = await catalog.claim_processing("alice", vid, worker, 60)
    assert claimed
    return vid


async def test_outputs_facts_and_ready_are_recorded_together(catalog):
    vid = await claimed_upload(catalog)
    done = await catalog.finish_processing_ready("alice", vid, "w", [SOURCE, ORIGINAL, THUMBNAIL], FACTS)
    assert done.status == "READY" and done.progress == 1.0 and done.lease_owner is None
    assert sorted((a.kind, a.size) for a in done.assets) == [("ORIGINAL", 100), ("SOURCE", 100), ("THUMBNAIL", 10)]
    assert (done.duration_seconds, done.width, done.video_codec, done.audio_codec) == (30.0, 1920, "vp8", None)
    assert [e.status for e in done.events][-1] == "READY"
    # Its renditions are queued from now on, as after finish_processing.
    assert all(r.queued_at is not None for r in done.renditions if r.state == "PENDING")


async def test_over_the_quota_nothing_is_recorded(catalog):
    vid = await claimed_upload(catalog)
    # The upload (100) and the original (100) fit; the thumbnail after them does not.
    catalog.limits = dataclasses.replace(catalog.limits, user_quota_bytes=205)
    with pytest.raises(ResourceExhausted) as refused:
        await catalog.finish_processing_ready("alice", vid, "w", [SOURCE, ORIGINAL, THUMBNAIL], FACTS)
    assert refused.value.reason == Reason.QUOTA_EXCEEDED
    video = await catalog.get_video("alice", vid)
    assert video.status == "PROCESSING" and video.lease_owner == "w"
    assert video.assets == [] and video.duration_seconds is None  # not even the outputs that fit


async def test_only_the_lease_holder_finishes(catalog):
    vid = await claimed_upload(catalog)
    with pytest.raises(FailedPrecondition, match="lease"):
        await catalog.finish_processing_ready("alice", vid, "intruder", [SOURCE], FACTS)
    video = await catalog.get_video("alice", vid)
    assert video.status == "PROCESSING" and video.assets == []
    with pytest.raises(InvalidArgument):
        await catalog.finish_processing_ready("alice", vid, "w", [dataclasses.replace(SOURCE, kind=None)], None)
    assert (await catalog.finish_processing_ready("alice", vid, "w", [], None)).status == "READY"
