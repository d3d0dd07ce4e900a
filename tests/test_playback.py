"""Playback over HTTP through the real Envoy: signed URLs, ranges on both backends, share links and
every refusal (expired, tampered, another video's token, revoked, traversal, another user's video)."""

from __future__ import annotations

import asyncio
import re
import sys

import grpc
import pytest

from media_service.playback import PlaybackTokens, load_or_create_key
from recorder.v1 import catalog_pb2, common_pb2, ingest_pb2, media_pb2, media_pb2_grpc
from tests.conftest import SteppedClock, run_gateway, start_stack
from tests import media_tools
from tests.helpers import asset, expect, user
from tests.plain_http import get
from tests.videos import ready_video


def media(stack) -> media_pb2_grpc.MediaServiceStub:
    return media_pb2_grpc.MediaServiceStub(stack.channel(stack.media_port))


async def playback_url(stack, owner: str, video_id: str, kind: int = 0) -> str:
    reply = await media(stack).GetPlaybackUrl(
        media_pb2.GetPlaybackUrlRequest(video_id=video_id, kind=kind), metadata=user(owner), timeout=10
    )
    assert reply.url.startswith("/play/")
    return reply.url


@pytest.mark.both_backends
async def test_ranges_and_headers_through_envoy(stack, gateway, recording_3s):
    video = await ready_video(stack, recording_3s, "pb-alice")
    for kind, asset_kind, content_type in (
        (media_pb2.PLAYBACK_KIND_ORIGINAL, common_pb2.ASSET_KIND_ORIGINAL, "video/webm"),
        (media_pb2.PLAYBACK_KIND_COMPRESSED, common_pb2.ASSET_KIND_COMPRESSED, "video/mp4"),
    ):
        data = asset(stack, video, asset_kind).read_bytes()
        size = len(data)
        url = await playback_url(stack, "pb-alice", video.video_id, kind)
        status, headers, body = await get(gateway, url)
        assert status == 200 and body == data
        assert headers["content-type"] == content_type and headers["accept-ranges"] == "bytes"
        assert "immutable" in headers["cache-control"] and headers["etag"]
        middle = size // 2
        for header, first, last in (
            ("bytes=0-0", 0, 0),
            (f"bytes={middle}-{middle + 99}", middle, middle + 99),
            (f"bytes={size - 1}-{size - 1}", size - 1, size - 1),
            ("bytes=-100", size - 100, size - 1),
            (f"bytes={size - 10}-", size - 10, size - 1),
            (f"bytes={size - 10}-{size + 1000}", size - 10, size - 1),
        ):
            status, headers, body = await get(gateway, url, {"Range": header})
            assert status == 206, header
            assert headers["content-range"] == f"bytes {first}-{last}/{size}", header
            assert body == data[first : last + 1], header
        for header in (f"bytes={size}-", f"bytes={size + 5}-{size + 10}", "bytes=-0"):
            status, headers, body = await get(gateway, url, {"Range": header})
            assert status == 416, header
            assert headers["content-range"] == f"bytes */{size}"
            assert data[:16] not in body
        status, headers, body = await get(gateway, url, method="HEAD")
        assert status == 200 and body == b"" and int(headers["content-length"]) == size
        etag = headers["etag"]
        status, _, body = await get(gateway, url, {"If-None-Match": etag})
        assert status == 304 and body == b""
        # A CORS preflight from the extension's origin is answered by Envoy for GET with Range.
        status, headers, _ = await get(
            gateway,
            url,
            {
                "Origin": "chrome-extension://baafeiakklliidfcgofccfkifabnjfdp",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "range",
            },
            method="OPTIONS",
        )
        assert status == 200 and "range" in headers.get("access-control-allow-headers", "")


async def test_refusals_serve_no_byte(stack, gateway, recording_3s, tmp_path):
    alice = await ready_video(stack, recording_3s, "pb-alice")
    bob = await ready_video(stack, recording_3s, "pb-bob")
    original = asset(stack, alice, common_pb2.ASSET_KIND_ORIGINAL).read_bytes()
    url = await playback_url(stack, "pb-alice", alice.video_id, media_pb2.PLAYBACK_KIND_ORIGINAL)
    _, _, token, name = url.split("/")
    assert (await get(gateway, url))[0] == 200

    def refused(status_body, status):
        got, _, body = status_body
        assert got == status, (got, body[:200])
        assert original[:64] not in body and len(body) < 2000

    # Tampered: one character of the MAC, of the expiry, of the family.
    mac_flip = token[:-1] + ("A" if token[-1] != "A" else "B")
    refused(await get(gateway, f"/play/{mac_flip}/{name}"), 403)
    parts = token.split(".")
    refused(
        await get(gateway, "/play/" + ".".join(parts[:4] + [str(int(parts[4]) + 999999)] + parts[5:]) + f"/{name}"), 403
    )
    refused(await get(gateway, "/play/" + ".".join(parts[:3] + ["compressed"] + parts[4:]) + "/compressed.mp4"), 403)
    # A's token on B's video (the video id swapped inside the token) and on B's owner.
    refused(await get(gateway, "/play/" + ".".join(parts[:2] + [bob.video_id] + parts[3:]) + f"/{name}"), 403)
    refused(await get(gateway, "/play/" + ".".join([parts[0], "pb-bob", bob.video_id] + parts[3:]) + f"/{name}"), 403)
    # Expired: a token signed with the server's own key, an hour in the past.
    tokens = PlaybackTokens(load_or_create_key(stack.storage_root.parent / "playback.key"))
    expired = tokens.for_owner("pb-alice", alice.video_id, "original", int(tokens.clock()) - 3600)
    status, _, body = await get(gateway, f"/play/{expired}/{name}")
    refused((status, {}, body), 403)
    assert b"expired" in body
    # Signed with another key: tampered.
    forged = PlaybackTokens(b"k" * 32).for_owner("pb-alice", alice.video_id, "original", int(tokens.clock()) + 600)
    refused(await get(gateway, f"/play/{forged}/{name}"), 403)
    # Names outside the family, and traversal in every spelling: nothing but the allow-list.
    bob_key = next(a.path for a in bob.assets if a.kind == common_pb2.ASSET_KIND_ORIGINAL)
    for path in (
        f"/play/{token}/source.webm",
        f"/play/{token}/compressed.mp4",
        f"/play/{token}/thumbnail.jpg",
        f"/play/{token}/../{bob.video_id}/{name}",
        f"/play/{token}/..%2f..%2f{bob_key}",
        f"/play/{token}/%2e%2e/%2e%2e/{bob_key}",
        f"/play/{token}/%2E%2E%2F{name}",
        f"/play/{token}/{name}/..",
        f"/play/{token}//{name}",
        f"/play/{token}/{name}%00.jpg",
        f"/play/{token}/..\\..\\{name}",
        "/play/../../../../etc/passwd",
    ):
        status, _, body = await get(gateway, path)
        assert status in (400, 403, 404), (path, status)
        assert original[:64] not in body
    # Another user's video: GetPlaybackUrl is NOT_FOUND, like a video that does not exist.
    message = await expect(
        grpc.StatusCode.NOT_FOUND,
        media(stack).GetPlaybackUrl(
            media_pb2.GetPlaybackUrlRequest(video_id=bob.video_id), metadata=user("pb-alice"), timeout=10
        ),
    )
    assert "not found" in message
    # No bearer token at all: refused by Envoy and by the service.
    status, _, _ = await get(gateway, "/recorder.v1.MediaService/GetPlaybackUrl", method="POST")
    assert status == 401


async def test_share_link_page_files_and_revocation(database_url, tmp_path, recording_3s):
    # Link state is remembered for 0 s here, so revocation is visible on the very next request.
    clock = SteppedClock()
    stack, stop = await start_stack(
        database_url, tmp_path / "storage", catalog_clock=clock, media_overrides={"share_link_cache_seconds": 0.0}
    )
    try:
        async for gateway in run_gateway(stack, tmp_path):
            await _share_flow(stack, gateway, recording_3s, clock)
    finally:
        await stop()


async def _share_flow(stack, gateway, recording, clock):
    video = await ready_video(stack, recording, "pb-carol", title="Quarterly <demo> & notes")
    other = await ready_video(stack, recording, "pb-carol", title="private one")
    created = (
        await stack.catalog.CreateShareLink(
            catalog_pb2.CreateShareLinkRequest(video_id=video.video_id, expires_in_seconds=3600),
            metadata=user("pb-carol"),
            timeout=10,
        )
    ).link
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", created.link_id) and created.path == f"/s/{created.link_id}"
    status, headers, page = await get(gateway, created.path)
    assert status == 200 and headers["cache-control"] == "no-store"
    text = page.decode()
    assert "Quarterly &lt;demo&gt; &amp; notes" in text and "<demo>" not in text
    # Nothing on the page names the owner or any video id.
    for secret in ("pb-carol", video.video_id, other.video_id):
        assert secret not in text
    src = re.search(r'<video[^>]* src="([^"]+)"', text)[1]
    poster = re.search(r'poster="([^"]+)"', text)[1]
    assert src.endswith("/compressed.mp4") and poster.endswith("/thumbnail.jpg")
    compressed = asset(stack, video, common_pb2.ASSET_KIND_COMPRESSED).read_bytes()
    status, _, body = await get(gateway, src)
    assert status == 200 and body == compressed
    status, headers, _ = await get(gateway, poster)
    assert status == 200 and headers["content-type"] == "image/jpeg"
    # The share token opens its family of this video only.
    token = src.split("/")[2]
    assert (await get(gateway, f"/play/{token}/original.webm"))[0] == 404
    # Links are the owner's: another user neither lists nor revokes them.
    listed = (
        await stack.catalog.ListShareLinks(catalog_pb2.ListShareLinksRequest(), metadata=user("pb-dave"), timeout=10)
    ).links
    assert list(listed) == []
    await expect(
        grpc.StatusCode.NOT_FOUND,
        stack.catalog.RevokeShareLink(
            catalog_pb2.RevokeShareLinkRequest(link_id=created.link_id), metadata=user("pb-dave"), timeout=10
        ),
    )
    await expect(
        grpc.StatusCode.NOT_FOUND,
        stack.catalog.CreateShareLink(
            catalog_pb2.CreateShareLinkRequest(video_id=video.video_id), metadata=user("pb-dave"), timeout=10
        ),
    )
    assert (await get(gateway, created.path))[0] == 200
    # Revoked: the page and every file URL minted for it answer 410 at once, with no byte.
    revoked = (
        await stack.catalog.RevokeShareLink(
            catalog_pb2.RevokeShareLinkRequest(link_id=created.link_id), metadata=user("pb-carol"), timeout=10
        )
    ).link
    assert revoked.HasField("revoked_at")
    assert (await get(gateway, created.path))[0] == 410
    status, _, body = await get(gateway, src)
    assert status == 410 and compressed[:64] not in body
    assert (await get(gateway, poster))[0] == 410
    # An unknown link looks exactly like a revoked one.
    assert (await get(gateway, "/s/" + "A" * 22))[0] == 410
    listed = (
        await stack.catalog.ListShareLinks(
            catalog_pb2.ListShareLinksRequest(video_id=video.video_id), metadata=user("pb-carol"), timeout=10
        )
    ).links
    assert [link.link_id for link in listed] == [created.link_id] and listed[0].HasField("revoked_at")
    await expect(
        grpc.StatusCode.INVALID_ARGUMENT,
        stack.catalog.CreateShareLink(
            catalog_pb2.CreateShareLinkRequest(video_id=video.video_id, expires_in_seconds=-1),
            metadata=user("pb-carol"),
            timeout=10,
        ),
    )
    # Expired: works until its time, then the page and its files are 410.
    timed = (
        await stack.catalog.CreateShareLink(
            catalog_pb2.CreateShareLinkRequest(video_id=video.video_id, expires_in_seconds=60),
            metadata=user("pb-carol"),
            timeout=10,
        )
    ).link
    status, _, page = await get(gateway, timed.path)
    assert status == 200
    src = re.search(r'<video[^>]* src="([^"]+)"', page.decode())[1]
    assert (await get(gateway, src, {"Range": "bytes=0-9"}))[0] == 206
    clock.advance(61)
    assert (await get(gateway, timed.path))[0] == 410
    status, _, body = await get(gateway, src, {"Range": "bytes=0-9"})
    assert status == 410 and compressed[:10] not in body
    # A deleted video's links are gone too.
    live = (
        await stack.catalog.CreateShareLink(
            catalog_pb2.CreateShareLinkRequest(video_id=other.video_id), metadata=user("pb-carol"), timeout=10
        )
    ).link
    assert (await get(gateway, live.path))[0] == 200
    await stack.ingest.DeleteVideo(
        ingest_pb2.DeleteVideoRequest(video_id=other.video_id), metadata=user("pb-carol"), timeout=10
    )
    assert (await get(gateway, live.path))[0] == 410


async def cli(stack, gateway: int, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "recorder_cli",
        "--user",
        "pb-frank",
        *args,
        env={**stack.env(), "RECORDER_GATEWAY": f"http://127.0.0.1:{gateway}"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode().strip()


async def test_cli_share_and_open_print_working_links(stack, gateway, recording_3s):
    video = await ready_video(stack, recording_3s, "pb-frank")
    share = await cli(stack, gateway, "share", video.video_id, "--expires", "7d")
    assert re.fullmatch(rf"http://127\.0\.0\.1:{gateway}/s/[A-Za-z0-9_-]{{22}}", share)
    links = (
        await stack.catalog.ListShareLinks(
            catalog_pb2.ListShareLinksRequest(video_id=video.video_id), metadata=user("pb-frank"), timeout=10
        )
    ).links
    assert len(links) == 1
    lifetime = links[0].expires_at.ToSeconds() - links[0].created_at.ToSeconds()
    assert abs(lifetime - 7 * 86400) <= 1
    status, _, page = await get(gateway, share.removeprefix(f"http://127.0.0.1:{gateway}"))
    assert status == 200 and b"<video" in page
    opened = await cli(stack, gateway, "open", video.video_id, "--kind", "original")
    assert opened.startswith(f"http://127.0.0.1:{gateway}/play/") and opened.endswith("/original.webm")
    status, _, body = await get(gateway, opened.removeprefix(f"http://127.0.0.1:{gateway}"))
    assert status == 200 and body == asset(stack, video, common_pb2.ASSET_KIND_ORIGINAL).read_bytes()


def crop_gray(image, x: int, y: int, w: int, h: int) -> list[int]:
    import subprocess

    result = subprocess.run(
        [
            media_tools.FFMPEG,
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(image),
            "-vf",
            f"crop={w}:{h}:{x}:{y}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return list(result.stdout)


def frame_gray(video, at: float, w: int, h: int) -> list[int]:
    import subprocess

    result = subprocess.run(
        [
            media_tools.FFMPEG,
            "-nostdin",
            "-v",
            "error",
            "-ss",
            f"{at:.3f}",
            "-i",
            str(video),
            "-frames:v",
            "1",
            "-vf",
            f"scale={w}:{h}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return list(result.stdout)


def mean_difference(a: list[int], b: list[int]) -> float:
    assert len(a) == len(b) and a
    return sum(abs(x - y) for x, y in zip(a, b)) / len(a)


@pytest.mark.both_backends
async def test_storyboard_sprite_and_vtt_cover_the_video(stack, gateway, recording_6s_pb, tmp_path):
    video = await ready_video(stack, recording_6s_pb, "pb-gina")
    url = await playback_url(stack, "pb-gina", video.video_id, media_pb2.PLAYBACK_KIND_STORYBOARD)
    assert url.endswith("/storyboard.vtt")
    status, headers, vtt = await get(gateway, url)
    assert status == 200 and headers["content-type"].startswith("text/vtt")
    cues = re.findall(
        r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n"
        r"storyboard\.jpg#xywh=(\d+),(\d+),(\d+),(\d+)",
        vtt.decode(),
    )
    assert vtt.startswith(b"WEBVTT") and len(cues) == 3  # 6 s, a frame every 2 s

    def seconds(h, m, s_, ms):
        return int(h) * 3600 + int(m) * 60 + int(s_) + int(ms) / 1000

    times = [(seconds(*c[0:4]), seconds(*c[4:8])) for c in cues]
    assert times[0][0] == 0 and all(a[1] == b[0] for a, b in zip(times, times[1:]))
    assert abs(times[-1][1] - video.media.duration_seconds) < 0.05
    sprite_url = url.rsplit("/", 1)[0] + "/storyboard.jpg"  # relative to the VTT: the same token
    status, headers, sprite = await get(gateway, sprite_url)
    assert status == 200 and headers["content-type"] == "image/jpeg"
    image = tmp_path / "sprite.jpg"
    image.write_bytes(sprite)
    x, y, w, h = map(int, cues[1][8:12])
    assert (w, h) == (160, 90) and (x, y) == (160, 0)
    info = media_tools.probe(image)
    assert (info.video.width, info.video.height) == (480, 90)
    # Each tile is the frame at its cue's start, not any frame: the middle tile matches 2 s in.
    original = asset(stack, video, common_pb2.ASSET_KIND_ORIGINAL)
    tile = crop_gray(image, x, y, w, h)
    assert mean_difference(tile, frame_gray(original, times[1][0], w, h)) < 12
    assert (
        mean_difference(tile, frame_gray(original, times[2][0], w, h))
        > mean_difference(tile, frame_gray(original, times[1][0], w, h)) + 5
    )
    # A share page of the video offers it as a metadata track.
    link = (
        await stack.catalog.CreateShareLink(
            catalog_pb2.CreateShareLinkRequest(video_id=video.video_id), metadata=user("pb-gina"), timeout=10
        )
    ).link
    page = (await get(gateway, link.path))[2].decode()
    track = re.search(r'<track id="storyboard" kind="metadata" label="storyboard" src="([^"]+)"', page)[1]
    assert track.endswith("/storyboard.vtt") and (await get(gateway, track))[2] == vtt


@pytest.fixture(scope="session")
def recording_6s_pb(tmp_path_factory):
    return media_tools.make_webm(tmp_path_factory.mktemp("media") / "screen-6s.webm", 6, size="640x360")


@pytest.mark.both_backends
async def test_hls_playlist_and_segments_through_envoy(stack, gateway, recording_6s_pb, tmp_path):
    from media_service import commands, containers
    from media_service.runner import FfmpegLimits, run_ffmpeg
    from media_service.settings import CompressionProfile

    video = await ready_video(stack, recording_6s_pb, "pb-hank")
    original = asset(stack, video, common_pb2.ASSET_KIND_ORIGINAL)
    made = tmp_path / "hls"
    made.mkdir()
    await run_ffmpeg(
        commands.compress_args(
            media_tools.FFMPEG,
            str(original),
            containers.for_original("video/webm"),
            str(made / "compressed.mp4"),
            CompressionProfile(),
            True,
            True,
            0,
            (640, 360),
            hls_folder=str(made),
        ),
        FfmpegLimits(max_file_bytes=1 << 26),
    )
    final_text = (made / commands.HLS_PLAYLIST).read_text()
    # First as a recording in progress would have it: EVENT, no ENDLIST yet.
    event_text = final_text.replace("#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-PLAYLIST-TYPE:EVENT").replace(
        "#EXT-X-ENDLIST\n", ""
    )
    (made / commands.HLS_PLAYLIST).write_text(event_text)
    store, catalog = stack.media.playback.store, stack.media.ondemand.catalog

    async def put(name: str) -> str:
        key = store.media_key("pb-hank", video.video_id, name)
        if store.remote:
            await store.upload(made / name, key)
        else:
            (stack.storage_root / key).write_bytes((made / name).read_bytes())
        return key

    playlist = commands.parse_playlist(final_text)
    for _, name in playlist.segments:
        await put(name)
    await put(commands.HLS_INIT)
    key = await put(commands.HLS_PLAYLIST)
    await catalog.put_asset("pb-hank", video.video_id, "HLS", key, "application/vnd.apple.mpegurl", len(event_text))
    url = await playback_url(stack, "pb-hank", video.video_id, media_pb2.PLAYBACK_KIND_HLS)
    assert url.endswith("/hls.m3u8")
    status, headers, body = await get(gateway, url)
    assert status == 200 and body.decode() == event_text
    assert headers["content-type"] == "application/vnd.apple.mpegurl"
    assert headers["cache-control"] == "private, no-cache"  # still growing
    # Completed: VOD with ENDLIST, and now cacheable like any finished file.
    (made / commands.HLS_PLAYLIST).write_text(commands.finalize_playlist(final_text))
    await put(commands.HLS_PLAYLIST)
    status, headers, body = await get(gateway, url)
    finished = commands.parse_playlist(body.decode())
    assert finished.ended and finished.playlist_type == "VOD" and "immutable" in headers["cache-control"]
    base = url.rsplit("/", 1)[0]  # relative URIs resolve under the same token
    init = (await get(gateway, f"{base}/{finished.init}"))[2]
    assert init == (made / commands.HLS_INIT).read_bytes()
    joined = init
    for _, name in finished.segments:
        status, headers, data = await get(gateway, f"{base}/{name}")
        assert status == 200 and "immutable" in headers["cache-control"] and data == (made / name).read_bytes()
        joined += data
    (tmp_path / "joined.mp4").write_bytes(joined)
    clean, reached, errors = media_tools.decode_fully(tmp_path / "joined.mp4")
    assert clean and abs(reached - video.media.duration_seconds) <= 0.15, errors
    for name in ("hls-1.m4s", "hls-00000.m4s.tmp", "hls-000000.m4s", "HLS-00000.m4s", "compressed.mp4"):
        assert (await get(gateway, f"{base}/{name}"))[0] == 404, name
