"""A user's uploads are processed one after another (the catalog's per-user processing cap), and
the next one starts as soon as the previous one ends, not at the next periodic sweep."""

from __future__ import annotations

import asyncio

from recorder.v1 import common_pb2
from tests.conftest import start_stack
from tests.helpers import upload_unary, user, wait_final

ALICE = user("alice")


async def test_an_owners_next_upload_starts_when_the_previous_job_ends(database_url, tmp_path, recording_3s):
    # The periodic sweep is far away: only the end of the first job can start the second.
    stack, stop = await start_stack(
        database_url, tmp_path / "storage", media_overrides={"sweep_interval_seconds": 600, "max_live_sessions": 0}
    )
    try:
        data = recording_3s.read_bytes()
        first, second = await asyncio.gather(
            upload_unary(stack, data, ALICE, chunk_size=256 * 1024),
            upload_unary(stack, data, ALICE, chunk_size=256 * 1024),
        )
        for video_id in (first, second):
            # The processing jobs are what the cap orders; the renditions after READY are not waited for.
            video = await wait_final(stack, video_id, ALICE, timeout=180, renditions=False)
            assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    finally:
        await stop()
