"""What the live path asks of the catalog (issue 15: many recordings at once): at stop, one call
records the outputs, media facts and READY together; while the upload arrives, a session asks
about its upload only when the event feed names it. Real servers in this process, real ffmpeg."""

from __future__ import annotations

import asyncio
import collections

from recorder.v1 import common_pb2
from tests.helpers import chunk, create_upload, put_chunk, split, user, wait_final, wait_until

ALICE = user("alice")


def counting(monkeypatch, catalog, methods: tuple[str, ...]) -> collections.Counter[str]:
    """Counts the media service's calls of these catalog client methods."""
    calls: collections.Counter[str] = collections.Counter()
    for name in methods:
        original = getattr(catalog, name)

        async def counted(*args, _name=name, _original=original, **kwargs):
            # put_asset by kind: the live encode records its HLS playlist this way while it runs.
            calls[f"{_name} {args[2]}" if _name == "put_asset" else _name] += 1
            return await _original(*args, **kwargs)

        monkeypatch.setattr(catalog, name, counted)
    return calls


async def test_a_live_upload_ends_with_one_catalog_call(stack, recording_3s, monkeypatch):
    # One client serves the worker and the live sessions' upload checks.
    catalog = stack.media.worker.catalog
    calls = counting(monkeypatch, catalog, ("put_asset", "set_media_info", "finish", "video_facts"))
    video_id = await create_upload(stack, ALICE, title="live", content_type="video/webm;codecs=vp8,opus")
    parts = split(recording_3s.read_bytes(), 256 * 1024)
    for i, part in enumerate(parts):
        await put_chunk(stack, video_id, chunk(i, part, i == len(parts) - 1), ALICE)
        if i == 0:
            await wait_until(lambda: stack.media.live.sessions.get(video_id), "a live session")
            await wait_until(lambda: stack.media.live.following, "the live sessions' event feed")
        await asyncio.sleep(0.6)  # longer than the poll interval the feed replaces
    # While the feed is followed a session asks about its upload once (the feed may have opened
    # after it started), not every CHECK_INTERVAL_SECONDS.
    assert calls["video_facts"] <= 1, calls
    video = await wait_final(stack, video_id, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert stack.media.live.finished == 1  # the live path made it, not the batch path
    kinds = {a.kind for a in video.assets}
    assert {common_pb2.ASSET_KIND_SOURCE, common_pb2.ASSET_KIND_ORIGINAL, common_pb2.ASSET_KIND_THUMBNAIL} <= kinds
    assert video.media.duration_seconds > 2 and video.media.width > 0
    # Its outputs and facts came with the READY, not one call each.
    job_assets = [calls[f"put_asset {kind}"] for kind in ("SOURCE", "ORIGINAL", "THUMBNAIL")]
    assert (job_assets, calls["set_media_info"], calls["finish"]) == ([0, 0, 0], 0, 1), calls
