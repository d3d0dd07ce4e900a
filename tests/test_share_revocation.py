"""A revoked or expired share link answers 410 on the very next request, on every media replica,
with no wait: the replicas remember link state for a minute here (SHARE_LINK_CACHE_SECONDS=60),
so only the event feed (revocation) and the per-request expiry check can make it so."""

from __future__ import annotations

import re

from media_service.settings import MediaSettings
from media_service.wiring import build as build_media
from recorder.v1 import catalog_pb2
from tests.conftest import AUTH, SteppedClock, start_stack
from tests.helpers import user, wait_until
from tests.plain_http import get
from tests.videos import ready_video

CACHE_SECONDS = 60.0


async def _second_replica(stack):
    """Another media replica's playback server on the same catalog, storage and key."""
    settings = MediaSettings(
        storage=stack.storage,
        port=0,
        auth=AUTH,
        catalog_target=f"127.0.0.1:{stack.catalog_port}",
        playback_port=0,
        playback_key_file=str(stack.storage_root.parent / "playback.key"),
        share_link_cache_seconds=CACHE_SECONDS,
    )
    parts = build_media(settings)
    port = await parts.playback.start("127.0.0.1", 0)
    return parts, port


async def _link(stack, video_id: str, expires_in: int = 0) -> catalog_pb2.ShareLink:
    request = catalog_pb2.CreateShareLinkRequest(video_id=video_id, expires_in_seconds=expires_in)
    return (await stack.catalog.CreateShareLink(request, metadata=user("rv-owner"), timeout=10)).link


async def test_revoked_and_expired_links_are_refused_at_once_on_every_replica(database_url, tmp_path, recording_3s):
    clock = SteppedClock()
    stack, stop = await start_stack(
        database_url,
        tmp_path / "storage",
        catalog_clock=clock,
        media_overrides={"share_link_cache_seconds": CACHE_SECONDS},
    )
    second, second_port = await _second_replica(stack)
    first = stack.media.playback
    try:
        await wait_until(
            lambda: first.links.following and second.playback.links.following, "both replicas follow the feed"
        )
        video = await ready_video(stack, recording_3s, "rv-owner")
        ports = (stack.playback_port, second_port)

        # Revocation: both replicas have the page and a file in their cache, then the owner revokes.
        link = await _link(stack, video.video_id)
        status, _, page = await get(ports[0], link.path)
        assert status == 200
        src = re.search(r'<video[^>]* src="([^"]+)"', page.decode())[1]
        for port in ports:
            assert (await get(port, link.path))[0] == 200
            assert (await get(port, src, {"Range": "bytes=0-9"}))[0] == 206
        lookups = [first.links.lookups, second.playback.links.lookups]
        assert (await get(ports[1], src, {"Range": "bytes=0-9"}))[0] == 206
        assert second.playback.links.lookups == lookups[1]  # served from the cache
        await stack.catalog.RevokeShareLink(
            catalog_pb2.RevokeShareLinkRequest(link_id=link.link_id), metadata=user("rv-owner"), timeout=10
        )
        for port in ports:  # no wait of any kind
            status, _, body = await get(port, src, {"Range": "bytes=0-9"})
            assert status == 410, (port, body[:200])
            assert (await get(port, link.path))[0] == 410

        # Expiry: at its time both replicas refuse, well inside the minute they may remember it.
        timed = await _link(stack, video.video_id, expires_in=30)
        status, _, page = await get(ports[0], timed.path)
        src = re.search(r'<video[^>]* src="([^"]+)"', page.decode())[1]
        for port in ports:
            assert (await get(port, src, {"Range": "bytes=0-9"}))[0] == 206
        lookups = [first.links.lookups, second.playback.links.lookups]
        for playback in (first, second.playback):  # the media clock, as the catalog's: 31 s on
            playback.tokens.clock = lambda: clock().timestamp()
        clock.advance(31)
        for port in ports:
            status, _, body = await get(port, src, {"Range": "bytes=0-9"})
            assert status == 410, (port, body[:200])
            assert (await get(port, timed.path))[0] == 410
        # Decided from the remembered expires_at: the catalog was not asked.
        assert [first.links.lookups, second.playback.links.lookups] == lookups
    finally:
        await second.close()
        await stop()
