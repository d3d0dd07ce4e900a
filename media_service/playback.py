"""Playback over plain HTTP: signed, expiring file URLs and the public share page.

URL scheme (served here, routed by the gateway under the same port as gRPC-Web):

  /play/<token>/<file>   one file of one video. The token names the video and one family of its
                         files (original, compressed, thumbnail) and expires; <file> must be one of
                         the fixed names of that family. Nothing else is reachable with it.
  /s/<link id>           the public watch page of a share link.

Tokens are HMAC-SHA256 with this service's playback key, checked without the database:

  o.<owner>.<video>.<family>.<expires>.<mac>   minted by GetPlaybackUrl for the owner
  s.<link>.<family>.<expires>.<mac>            minted by the share page; the video and owner come
                                               from the link (so the URL does not name the owner)

A share token is also checked against the link's state, which the catalog answers
(ResolveShareLink). This server remembers the answer (for SHARE_LINK_CACHE_SECONDS, 2 s at most)
only while it follows the catalog's event feed, which evicts a link the moment it is revoked or its
video changes (link_feed.py); RevokeShareLink returns once the followers have been sent it, so a
revoked link answers 410 on the very next request on every replica. Expiry is checked on every
request against the remembered expires_at. The catalog sees at most one lookup per link per replica
per bound, however many viewers and segments there are.

Files are read by ranges through the store (local files or S3 ranged GETs), not redirected to a
presigned URL: one origin, one token check, one set of CORS and cache headers, and a CDN in front
caches exactly what it would cache from a file server.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import html
import logging
import os
import pathlib
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from aiohttp import web

from media_service.commands import HLS_INIT, HLS_PLAYLIST, HLS_SEGMENT_NAME
from media_service.link_feed import LinkFeed
from recorder_common.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from recorder_common.ids import check_video_id, is_valid_user_id

log = logging.getLogger("recorder.media.playback")

# Every name a family may serve, with its type. The file part of a URL is looked up here and
# nowhere else: it is never joined into a path as the client sent it.
FAMILIES: dict[str, dict[str, str]] = {
    "original": {"original.webm": "video/webm", "original.mp4": "video/mp4", "original.mkv": "video/x-matroska"},
    "compressed": {"compressed.mp4": "video/mp4", "compressed.webm": "video/webm"},
    "thumbnail": {"thumbnail.jpg": "image/jpeg", "thumbnail.webp": "image/webp"},
    # The VTT names the sprite relative to itself, so both come under one token.
    "storyboard": {"storyboard.vtt": "text/vtt", "storyboard.jpg": "image/jpeg"},
    # And its segments, by pattern (HLS_SEGMENT).
    "hls": {HLS_PLAYLIST: "application/vnd.apple.mpegurl", HLS_INIT: "video/mp4"},
}
HLS_SEGMENT = re.compile(HLS_SEGMENT_NAME)
DEFAULT_PLAYER_SCRIPT = pathlib.Path(__file__).resolve().parent.parent / "web" / "dist" / "share-player.js"
# The catalog's asset kind of each family (the file a URL of the family points at).
FAMILY_ASSET = {
    "original": "ORIGINAL",
    "compressed": "COMPRESSED",
    "thumbnail": "THUMBNAIL",
    "storyboard": "STORYBOARD_VTT",
    "hls": "HLS",
}
# A thumbnail may be replaced under the same name (MakeThumbnail): revalidate it by ETag. The others
# never change once written, so a browser or CDN keeps them for as long as the URL is valid.
REVALIDATED_FAMILIES = frozenset({"thumbnail"})

PIECE_BYTES = 512 * 1024
MAX_PLAYLIST_BYTES = 4 * 1024 * 1024  # 4 h of 2 s segments is ~200 KiB
MAX_URL_SECONDS = 7 * 24 * 3600

_PLAY_PATH = re.compile(r"/play/([A-Za-z0-9._-]{1,400})/([a-z0-9_-]{1,64}\.[a-z0-9]{2,5})")
_SHARE_PATH = re.compile(r"/s/([A-Za-z0-9_-]{22})")
_OWNER_TOKEN = re.compile(
    r"o\.([A-Za-z0-9_-]{1,64})\.([0-9a-f]{32})\.([a-z]{1,16})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})"
)
_SHARE_TOKEN = re.compile(r"s\.([A-Za-z0-9_-]{22})\.([a-z]{1,16})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


class Refused(Exception):
    """An HTTP refusal with its status and a short reason for the body (never an internal detail)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ---- the key ---------------------------------------------------------------------------------
def load_or_create_key(path: pathlib.Path | str) -> bytes:
    """The playback key: 32 random bytes, hex, in a file only this user reads. Made on first use
    (the development default lives in the data folder, never in the repository); replicas that
    share the file share the key. Created with O_EXCL, so two starting replicas agree on one."""
    path = pathlib.Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"PLAYBACK_KEY_FILE {path} must hold hex") from None
    if len(key) < 32:
        raise ValueError(f"PLAYBACK_KEY_FILE {path} must hold at least 32 bytes (64 hex digits)")
    return key


# ---- tokens ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Grant:
    family: str
    expires: int
    owner_id: str | None = None  # owner tokens
    video_id: str | None = None
    link_id: str | None = None  # share tokens: the video comes from the link


class PlaybackTokens:
    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.clock = clock

    def _mac(self, message: str) -> str:
        digest = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def for_owner(self, owner_id: str, video_id: str, family: str, expires: int) -> str:
        assert is_valid_user_id(owner_id) and family in FAMILIES
        check_video_id(video_id)
        body = f"o.{owner_id}.{video_id}.{family}.{expires}"
        return f"{body}.{self._mac('v1|' + body)}"

    def for_link(self, link_id: str, family: str, expires: int) -> str:
        assert _SHARE_PATH.fullmatch(f"/s/{link_id}") and family in FAMILIES
        body = f"s.{link_id}.{family}.{expires}"
        return f"{body}.{self._mac('v1|' + body)}"

    def verify(self, token: str) -> Grant:
        """The grant a token carries, or Refused(403): malformed, tampered or expired."""
        owner = _OWNER_TOKEN.fullmatch(token)
        share = None if owner else _SHARE_TOKEN.fullmatch(token)
        match = owner or share
        if match is None:
            raise Refused(403, "this playback link is not valid")
        body, mac = token.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("v1|" + body)):
            raise Refused(403, "this playback link is not valid")
        if owner:
            grant = Grant(family=owner[3], expires=int(owner[4]), owner_id=owner[1], video_id=owner[2])
        else:
            grant = Grant(family=share[2], expires=int(share[3]), link_id=share[1])
        if grant.family not in FAMILIES:
            raise Refused(403, "this playback link is not valid")
        if grant.expires <= self.clock():
            raise Refused(403, "this playback link has expired; ask for a new one")
        return grant


# ---- share links -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LinkState:
    active: bool
    owner_id: str = ""
    video_id: str = ""
    title: str = ""
    status: str = ""
    duration_seconds: float = 0.0
    assets: dict[str, str] = dataclasses.field(default_factory=dict)  # kind -> catalog path
    expires_at: float | None = None  # unix time
    allow_download: bool = False


GONE = LinkState(active=False)


class LinkCache:
    """Link state by link id, with one lookup in flight per link (fifty viewers opening one page
    ask the catalog once).

    Answers are remembered only while `following` is set: this process then hears every
    revocation and every change to a shared video from the catalog's event feed (link_feed.py),
    which evicts the link at once. While it is not following (starting, the feed is down), nothing
    is remembered: every request asks the catalog (fail safe). ttl bounds a remembered answer
    in any case (how fresh the page's list of files is, and a backstop for a lost event). A link's
    expiry is checked against `wall` on every get, so it takes effect at its time, not ttl later."""

    MAX_ENTRIES = 10_000

    def __init__(
        self,
        resolve: Callable[[str], Awaitable[LinkState]],
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._resolve = resolve
        self.ttl = ttl_seconds
        self.clock = clock
        self.wall = wall
        self.following = False
        self._entries: OrderedDict[str, tuple[float, LinkState]] = OrderedDict()
        self._by_video: dict[str, set[str]] = {}
        self._inflight: dict[str, asyncio.Future] = {}
        # Moved on by every eviction: a lookup that was in flight across one is not remembered
        # (it may have read the link before the revocation committed).
        self._generation = 0
        self.lookups = 0  # catalog calls made, for the bench and tests

    async def get(self, link_id: str) -> LinkState:
        state = await self._get(link_id)
        if state.active and state.expires_at is not None and state.expires_at <= self.wall():
            return GONE
        return state

    async def _get(self, link_id: str) -> LinkState:
        now = self.clock()
        cached = self._entries.get(link_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        pending = self._inflight.get(link_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._inflight[link_id] = future
        generation = self._generation
        try:
            self.lookups += 1
            state = await self._resolve(link_id)
            if self.ttl > 0 and self.following and generation == self._generation:
                self._remember(link_id, state)
            future.set_result(state)
            return state
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody logs it as lost
            raise
        finally:
            if self._inflight.get(link_id) is future:
                del self._inflight[link_id]

    def _remember(self, link_id: str, state: LinkState) -> None:
        self._forget(link_id)
        self._entries[link_id] = (self.clock(), state)
        if state.video_id:
            self._by_video.setdefault(state.video_id, set()).add(link_id)
        while len(self._entries) > self.MAX_ENTRIES:
            self._forget(next(iter(self._entries)))

    def _forget(self, link_id: str) -> None:
        entry = self._entries.pop(link_id, None)
        self._inflight.pop(link_id, None)  # later requests ask again, not join a stale lookup
        if entry is not None and entry[1].video_id:
            links = self._by_video.get(entry[1].video_id)
            if links is not None:
                links.discard(link_id)
                if not links:
                    del self._by_video[entry[1].video_id]

    def set_following(self, following: bool) -> None:
        """The event feed connected (True) or was lost (False): start afresh either way."""
        self.following = following
        self._generation += 1
        self._entries.clear()
        self._by_video.clear()
        self._inflight.clear()

    def evict_link(self, link_id: str) -> None:
        self._generation += 1
        self._forget(link_id)

    def evict_video(self, video_id: str) -> None:
        """Every link of a video that changed (deleted, failed, a new file): asked again."""
        self._generation += 1
        for link_id in list(self._by_video.get(video_id, ())):
            self._forget(link_id)


# ---- ranges ----------------------------------------------------------------------------------
def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for one `bytes=` range; None to send the whole file (no header, or
    one we do not serve as a range: several ranges, other units). Refused(416) past the end."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None:
        return None  # multi-range or another unit: ignoring Range is allowed (RFC 9110 14.2)
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # suffix: the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            raise Refused(416, "range not satisfiable")
        return max(size - length, 0), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # invalid range: ignored
    if first >= size:
        raise Refused(416, "range not satisfiable")
    return first, min(last, size - 1)


# ---- the server ------------------------------------------------------------------------------
class Playback:
    """Mints playback URLs (GetPlaybackUrl) and serves /play/ and /s/ over HTTP."""

    def __init__(
        self,
        store,
        catalog,
        tokens: PlaybackTokens,
        *,
        url_seconds: int = 3600,
        share_url_seconds: int = 6 * 3600,
        link_cache_seconds: float = 2.0,
        public_base_url: str = "",
        make_storyboard: Callable[[str, str], Awaitable[object]] | None = None,
        player_script: pathlib.Path | str | None = None,
        follow_link_events: bool = True,
    ) -> None:
        # The share page's HLS player (web/: `npm run build:share`, hls.js bundled), served at
        # /s/player.js; without it the page relies on the browser's native HLS.
        self.player_script = pathlib.Path(player_script) if player_script else DEFAULT_PLAYER_SCRIPT
        # ondemand.OnDemandMedia.storyboard: GetPlaybackUrl(storyboard) makes it on demand while the
        # storyboard rendition is not READY yet (or for a video from before it existed).
        self.make_storyboard = make_storyboard
        self.store = store
        self.catalog = catalog
        self.tokens = tokens
        self.url_seconds = url_seconds
        self.share_url_seconds = share_url_seconds
        self.public_base_url = public_base_url.rstrip("/")
        self.links = LinkCache(self._resolve_link, link_cache_seconds, wall=lambda: self.tokens.clock())
        # Follows the catalog's revocations while serving (start); without it nothing is cached.
        self.follow_link_events = follow_link_events
        self._link_feed: LinkFeed | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ---- GetPlaybackUrl ----------------------------------------------------------------------
    async def playback_url(self, owner_id: str, video_id: str, family: str) -> tuple[str, str, str, int]:
        """(url, family, content type, expires unix) for the owner's own video. family "" picks
        the best watchable file: compressed, else original."""
        facts = await self.catalog.video_facts(owner_id, check_video_id(video_id))
        if family == "storyboard" and "STORYBOARD_VTT" not in facts.assets and self.make_storyboard is not None:
            vtt = await self.make_storyboard(owner_id, video_id)
            facts = dataclasses.replace(facts, assets={**facts.assets, "STORYBOARD_VTT": vtt})
        candidates = [family] if family else ["compressed", "original"]
        for candidate in candidates:
            if candidate not in FAMILIES:
                raise InvalidArgument(f"kind must be one of {', '.join(FAMILIES)}")
            asset = facts.assets.get(FAMILY_ASSET[candidate])
            if asset is None:
                continue
            name = pathlib.PurePosixPath(asset.path).name
            if name not in FAMILIES[candidate]:
                raise NotFound(f"this video's {candidate} file cannot be played")
            expires = int(self.tokens.clock()) + self.url_seconds
            token = self.tokens.for_owner(owner_id, video_id, candidate, expires)
            return (f"{self.public_base_url}/play/{token}/{name}", candidate, FAMILIES[candidate][name], expires)
        wanted = family or "watchable"
        raise FailedPrecondition(
            f"this video has no {wanted} file yet (it is {facts.status}); ask again once it is READY"
        )

    # ---- share links -------------------------------------------------------------------------
    async def _resolve_link(self, link_id: str) -> LinkState:
        return await self.catalog.resolve_share_link(link_id)

    # ---- HTTP --------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self, host: str, port: int) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self.follow_link_events and self._link_feed is None:
            self._link_feed = LinkFeed(self.catalog, self.links)
            self._link_feed.start()
        return self.port

    async def stop(self) -> None:
        if self._link_feed is not None:
            await self._link_feed.stop()
            self._link_feed = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        # The raw path, as sent: no decoding, no dot-segment folding. Anything outside the strict
        # grammar (%2e%2e, .., a slash too many) matches nothing and is 404.
        path = request.raw_path.split("?", 1)[0]
        try:
            if path == "/healthz":
                return web.Response(text="ok\n")
            if request.method not in ("GET", "HEAD"):
                raise Refused(405, "only GET and HEAD")
            if path.startswith("/play/"):
                match = _PLAY_PATH.fullmatch(path)
                if match is None:
                    raise Refused(404, "no such file")
                return await self._serve_file(request, match[1], match[2])
            if path == "/s/player.js":
                return await self._player_script()
            if path.startswith("/s/"):
                match = _SHARE_PATH.fullmatch(path)
                if match is None:
                    raise Refused(404, "no such share link")
                return await self._share_page(match[1])
            raise Refused(404, "not found")
        except Refused as refusal:
            return _refusal(refusal)
        except DomainError as exc:  # the catalog is down or slow: say so, not what it said
            log.warning("playback request failed: %s", exc)
            return _refusal(Refused(503, "playback is unavailable for a moment; try again"))
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("playback request failed")
            return _refusal(Refused(500, "internal error"))

    async def _where(self, grant: Grant) -> tuple[str, str, LinkState | None]:
        """Owner and video the grant opens; a share grant only while its link is active."""
        if grant.link_id is None:
            return grant.owner_id, grant.video_id, None
        state = await self.links.get(grant.link_id)
        if not state.active:
            raise Refused(410, "this share link has expired or was revoked")
        return state.owner_id, state.video_id, state

    async def _serve_file(self, request: web.Request, token: str, name: str) -> web.StreamResponse:
        grant = self.tokens.verify(token)
        content_type = content_type_of(grant.family, name)
        if content_type is None:
            raise Refused(404, "no such file")
        owner_id, video_id, link = await self._where(grant)
        key = self.store.media_key(owner_id, video_id, name)  # validated ids and a fixed name only
        try:
            size, etag = await self.store.head(key)
        except FileNotFoundError:
            raise Refused(404, "no such file") from None
        remaining = max(grant.expires - int(self.tokens.clock()), 0)
        immutable = f"private, max-age={remaining}, immutable"
        playlist = None
        if name == HLS_PLAYLIST:
            # Small: read whole (to its end, as the file may have been replaced since head), so a
            # growing EVENT playlist is served as one version, with an ETag of what was read.
            playlist = await self.store.read_range(key, 0, size if self.store.remote else MAX_PLAYLIST_BYTES)
            size = len(playlist)
            etag = '"' + hashlib.sha256(playlist).hexdigest()[:32] + '"'
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Content-Type": content_type,
            "X-Content-Type-Options": "nosniff",
            # Private: a share link's files must stop when it is revoked, so shared caches only
            # hold them as the README describes (a CDN purging on revoke).
            "Cache-Control": (
                "private, no-cache"
                if grant.family in REVALIDATED_FAMILIES or (playlist is not None and b"#EXT-X-ENDLIST" not in playlist)
                else immutable
            ),
        }
        if request.query.get("download") == "1" and (link is None or link.allow_download):
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        if etag in _etags(request.headers.get("If-None-Match")):
            return web.Response(status=304, headers=headers)
        byte_range = None
        if_range = request.headers.get("If-Range")
        if if_range is None or if_range == etag:
            try:
                byte_range = parse_range(request.headers.get("Range"), size)
            except Refused:
                return web.Response(
                    status=416,
                    headers={**headers, "Content-Range": f"bytes */{size}", "Content-Type": "text/plain"},
                    text="range not satisfiable\n",
                )
        first, last = byte_range if byte_range else (0, size - 1)
        length = last - first + 1 if size else 0
        response = web.StreamResponse(status=206 if byte_range else 200, headers=headers)
        if byte_range:
            response.headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        response.content_length = length
        await response.prepare(request)
        if request.method == "HEAD":
            await response.write_eof()
            return response
        if playlist is not None:
            await response.write(playlist[first : last + 1])
            await response.write_eof()
            return response
        position = first
        while position <= last:
            data = await self.store.read_range(key, position, min(PIECE_BYTES, last - position + 1))
            if not data:
                break
            await response.write(data)
            position += len(data)
        await response.write_eof()
        return response

    async def _player_script(self) -> web.Response:
        try:
            body = await asyncio.to_thread(self.player_script.read_bytes)
        except OSError:
            raise Refused(404, "the share player is not built (cd web && npm run build:share)") from None
        return web.Response(
            body=body,
            content_type="text/javascript",
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    async def _share_page(self, link_id: str) -> web.Response:
        state = await self.links.get(link_id)
        if not state.active:
            raise Refused(410, "this share link has expired or was revoked")
        # Not capped at the link's expiry: every request checks the link (410 once it expired).
        expires = int(self.tokens.clock()) + self.share_url_seconds

        def url(family: str) -> str | None:
            path = state.assets.get(FAMILY_ASSET[family])
            if path is None:
                return None
            name = pathlib.PurePosixPath(path).name
            if name not in FAMILIES[family]:
                return None
            return f"/play/{self.tokens.for_link(link_id, family, expires)}/{name}"

        video = url("compressed") or url("original")
        hls = None if video else url("hls")  # still recording: the live playlist
        poster = url("thumbnail")
        # The storyboard rendition's files once it is READY (rendition.ready evicts this link, so
        # the next page has them); until then the page has no scrubbing previews.
        storyboard = url("storyboard")
        return web.Response(
            status=200,
            text=share_page_html(state, video, poster, storyboard, hls),
            content_type="text/html",
            charset="utf-8",
            headers=PAGE_HEADERS,
        )


PAGE_HEADERS = {
    # The page changes as the video is processed and must stop at once when the link is revoked.
    "Cache-Control": "no-store",
    # Scripts: only the HLS player from this origin; MSE plays from blob: URLs it fetches here.
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; media-src 'self' blob:; "
        "script-src 'self'; connect-src 'self'; "
        "style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "X-Content-Type-Options": "nosniff",
}


def content_type_of(family: str, name: str) -> str | None:
    """The type of a file a family may serve, or None: it is not one of the family's names."""
    known = FAMILIES[family].get(name)
    if known is None and family == "hls" and HLS_SEGMENT.fullmatch(name):
        return "video/mp4"
    return known


def _etags(header: str | None) -> set[str]:
    return {part.strip() for part in header.split(",")} if header else set()


def _refusal(refusal: Refused) -> web.Response:
    body = html.escape(refusal.reason)
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
    if refusal.status == 410:
        return web.Response(
            status=410,
            text=_page("Link unavailable", f"<p>{body}.</p>"),
            content_type="text/html",
            charset="utf-8",
            headers={**PAGE_HEADERS, **headers},
        )
    return web.Response(status=refusal.status, text=body + "\n", headers=headers)


def _duration(seconds: float) -> str:
    whole = int(round(seconds))
    return (
        f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
        if whole >= 3600
        else f"{whole // 60}:{whole % 60:02d}"
    )


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:960px;padding:0 1rem}"
        "video{width:100%;background:#000}</style></head>"
        f"<body>{body}</body></html>"
    )


def share_page_html(
    state: LinkState,
    video_url: str | None,
    poster_url: str | None,
    storyboard_url: str | None = None,
    hls_url: str | None = None,
) -> str:
    """The watch page: title, duration, the thumbnail as poster and an HTML5 player. Nothing on it
    names the owner or the video's id; every URL is a share token for this link only."""
    title = state.title or "Recording"
    parts = [f'<h1 id="title">{html.escape(title)}</h1>']
    if state.duration_seconds:
        parts.append(
            f'<p id="duration" data-seconds="{state.duration_seconds:.3f}">{_duration(state.duration_seconds)}</p>'
        )
    if video_url is None and hls_url is not None:
        poster = f' poster="{html.escape(poster_url)}"' if poster_url else ""
        parts.append(
            f'<video id="player" controls playsinline muted{poster} data-hls="{html.escape(hls_url)}">'
            '</video><p id="live">Live: this recording is still being made.</p>'
            '<script src="/s/player.js"></script>'
        )
    elif video_url is None:
        parts.append('<p id="pending">This recording is still being processed. Reload in a moment.</p>')
    else:
        poster = f' poster="{html.escape(poster_url)}"' if poster_url else ""
        parts.append(
            f'<video id="player" controls preload="metadata" playsinline{poster} '
            f'src="{html.escape(video_url)}">'
            + (
                f'<track id="storyboard" kind="metadata" label="storyboard" src="{html.escape(storyboard_url)}">'
                if storyboard_url
                else ""
            )
            + "</video>"
        )
        if state.allow_download:
            parts.append(f'<p><a id="download" href="{html.escape(video_url)}?download=1">Download</a></p>')
    return _page(title, "".join(parts))
