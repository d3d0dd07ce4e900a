"""Pure rules of playback: Range parsing, tokens, and the share-link state cache's bound."""

from __future__ import annotations

import asyncio

import pytest

from media_service.playback import LinkCache, LinkState, PlaybackTokens, Refused, parse_range

VIDEO = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    "header,expected",
    [
        (None, None),
        ("", None),
        ("bytes=0-0", (0, 0)),
        ("bytes=10-19", (10, 19)),
        ("bytes=90-", (90, 99)),
        ("bytes=-1", (99, 99)),
        ("bytes=-500", (0, 99)),
        ("bytes=95-1000", (95, 99)),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
        ("bytes=9-3", None),
        ("bytes=-", None),
    ],
)
def test_ranges(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0"])
def test_ranges_past_the_end_are_416(header):
    with pytest.raises(Refused) as refused:
        parse_range(header, 100)
    assert refused.value.status == 416


def test_tokens_bind_every_field_and_expire():
    now = [1_000_000.0]
    tokens = PlaybackTokens(b"k" * 32, clock=lambda: now[0])
    token = tokens.for_owner("alice", VIDEO, "original", 1_000_600)
    grant = tokens.verify(token)
    assert (grant.owner_id, grant.video_id, grant.family, grant.link_id) == ("alice", VIDEO, "original", None)
    for i, part in enumerate(token.split(".")[1:5], start=1):
        changed = token.split(".")
        changed[i] = part[:-1] + ("0" if part[-1] != "0" else "1")
        with pytest.raises(Refused) as refused:
            tokens.verify(".".join(changed))
        assert refused.value.status == 403
    with pytest.raises(Refused):
        PlaybackTokens(b"x" * 32, clock=lambda: now[0]).verify(token)
    share = tokens.for_link("A" * 22, "compressed", 1_000_600)
    assert tokens.verify(share).link_id == "A" * 22 and "alice" not in share
    now[0] = 1_000_600.0
    for expired in (token, share):
        with pytest.raises(Refused, match="expired"):
            tokens.verify(expired)


async def test_link_cache_asks_once_per_bound_and_once_for_many_waiters():
    now = [0.0]
    calls = []
    release = asyncio.Event()

    async def resolve(link_id):
        calls.append(link_id)
        await release.wait()
        return LinkState(active=len(calls) == 1)

    cache = LinkCache(resolve, ttl_seconds=2.0, clock=lambda: now[0])
    cache.set_following(True)
    waiters = [asyncio.create_task(cache.get("L")) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert all(state.active for state in await asyncio.gather(*waiters))
    assert calls == ["L"]  # fifty viewers, one lookup
    now[0] = 1.9
    assert (await cache.get("L")).active and calls == ["L"]
    now[0] = 2.0  # the bound (a backstop: the event feed evicts a revoked link at once)
    assert not (await cache.get("L")).active and calls == ["L", "L"]


async def test_link_cache_remembers_nothing_while_not_following_the_feed():
    calls = []

    async def resolve(link_id):
        calls.append(link_id)
        return LinkState(active=True, video_id="v" * 32)

    cache = LinkCache(resolve, ttl_seconds=60.0, clock=lambda: 0.0)
    await cache.get("L")
    await cache.get("L")
    assert calls == ["L", "L"]  # the feed is not connected: every request asks
    cache.set_following(True)
    await cache.get("L")
    await cache.get("L")
    assert calls == ["L"] * 3
    cache.set_following(False)  # the feed broke: forget, and ask again
    await cache.get("L")
    assert calls == ["L"] * 4


async def test_link_cache_eviction_beats_a_lookup_in_flight():
    """A lookup that read the link before its revocation committed is neither remembered nor
    joined by requests that come after the eviction."""
    answers = [asyncio.Event(), asyncio.Event()]
    calls = []

    async def resolve(link_id):
        calls.append(link_id)
        n = len(calls)
        await answers[n - 1].wait()
        return LinkState(active=n == 1, video_id="v" * 32)

    cache = LinkCache(resolve, ttl_seconds=60.0, clock=lambda: 0.0)
    cache.set_following(True)
    stale = asyncio.create_task(cache.get("L"))
    await asyncio.sleep(0)
    cache.evict_link("L")  # share_link.revoked arrives while that lookup is out
    fresh = asyncio.create_task(cache.get("L"))
    await asyncio.sleep(0)
    answers[0].set()
    answers[1].set()
    assert (await stale).active and not (await fresh).active
    assert not (await cache.get("L")).active and calls == ["L", "L"]
    # Evicting by video reaches every remembered link of it.
    cache.set_following(True)
    calls.clear()
    answers[:] = [asyncio.Event(), asyncio.Event()]
    for a in answers:
        a.set()
    assert (await cache.get("L")).active and (await cache.get("L")).active and calls == ["L"]
    cache.evict_video("v" * 32)
    assert not (await cache.get("L")).active and calls == ["L", "L"]


async def test_link_cache_checks_expiry_on_every_request():
    wall = [1000.0]

    async def resolve(link_id):
        return LinkState(active=True, expires_at=1010.0)

    cache = LinkCache(resolve, ttl_seconds=60.0, clock=lambda: 0.0, wall=lambda: wall[0])
    cache.set_following(True)
    assert (await cache.get("L")).active
    wall[0] = 1009.9
    assert (await cache.get("L")).active
    wall[0] = 1010.0  # its time: gone, without waiting for the remembered answer to lapse
    assert not (await cache.get("L")).active and cache.lookups == 1


@pytest.mark.parametrize(
    "duration,interval,count,columns,rows",
    [
        (6.02, 2.0, 3, 3, 1),
        (1.0, 2.0, 1, 1, 1),
        (200.0, 2.0, 100, 10, 10),
        (3600.0, 36.0, 100, 10, 10),
        (21.0, 2.0, 11, 10, 2),
    ],
)
def test_storyboard_layout(duration, interval, count, columns, rows):
    from media_service.commands import storyboard_layout, storyboard_vtt

    layout = storyboard_layout(duration, 1920, 1080)
    assert (layout.interval, layout.count, layout.columns, layout.rows) == (interval, count, columns, rows)
    assert (layout.tile_width, layout.tile_height) == (160, 90)
    vtt = storyboard_vtt(layout, duration)
    assert vtt.count("#xywh=") == count and vtt.startswith("WEBVTT\n")
    last = vtt.strip().splitlines()[-2]
    assert last.endswith(f"{int(duration) // 60 % 60:02d}:{int(duration) % 60:02d}.{round(duration % 1 * 1000):03d}")


async def test_hls_publisher_stores_segments_before_the_playlist_that_names_them(tmp_path):
    from media_service.hls import HlsPublisher

    stored: list[tuple[str, str]] = []

    async def keep(path):
        stored.append((path.name, path.read_text()))

    publisher = HlsPublisher(tmp_path, keep)
    assert await publisher.sync() == 0  # nothing yet
    (tmp_path / "hls-init.mp4").write_text("init")
    (tmp_path / "hls-00000.m4s").write_text("s0")
    (tmp_path / "hls-00001.m4s.tmp").write_text("half")  # ffmpeg still writing: never stored
    (tmp_path / "hls.m3u8").write_text("#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:2.0,\nhls-00000.m4s\n")
    assert await publisher.sync() == 3
    assert [name for name, _ in stored] == ["hls-init.mp4", "hls-00000.m4s", "hls.m3u8"]
    assert await publisher.sync() == 0  # nothing new, nothing stored again
    (tmp_path / "hls-00001.m4s.tmp").rename(tmp_path / "hls-00001.m4s")
    (tmp_path / "hls.m3u8").write_text(
        "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\n#EXTINF:2.0,\nhls-00000.m4s\n#EXTINF:2.0,\nhls-00001.m4s\n"
    )
    await publisher.finish()
    assert [name for name, _ in stored[3:]] == ["hls-00001.m4s", "hls.m3u8"]
    final = stored[-1][1]
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in final and final.rstrip().endswith("#EXT-X-ENDLIST")
