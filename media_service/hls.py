"""Publishing an HLS rendition while ffmpeg writes it.

On local storage the encode writes into the video's own folder, so every finished segment (ffmpeg
renames it into place: hls_flags=temp_file) and every playlist version is served as it appears. On
an object store the encode writes into a private scratch folder: HlsPublisher uploads each new
finished segment, then the playlist, so a viewer never reads a playlist naming a segment that is
not stored yet; the init segment goes before the first media segment.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import re
from collections.abc import Awaitable, Callable

from media_service.commands import HLS_INIT, HLS_PLAYLIST, HLS_SEGMENT_NAME, finalize_playlist

log = logging.getLogger("recorder.media.hls")
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"

_SEGMENT = re.compile(HLS_SEGMENT_NAME)


class HlsPublisher:
    def __init__(self, folder: pathlib.Path, keep: Callable[[pathlib.Path], Awaitable[object]]) -> None:
        self.folder = folder
        self.keep = keep  # Workspace.keep: stores one finished file under its own name
        self.published: set[str] = set()
        self._playlist: bytes | None = None

    def _segments(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if _SEGMENT.fullmatch(p.name))

    async def sync(self) -> int:
        """Store what is new; returns the number of files stored. Call it every second or so while
        the encode runs, and once more after it ends."""
        stored = 0
        playlist = self.folder / HLS_PLAYLIST
        if not playlist.exists():
            return 0
        text = playlist.read_bytes()  # read first: it names only segments that existed by then
        for name in [HLS_INIT, *self._segments()]:
            if name not in self.published and (self.folder / name).exists():
                await self.keep(self.folder / name)
                self.published.add(name)
                stored += 1
        if text != self._playlist:
            named = set(re.findall(rb"^(hls-[0-9]{5}\.m4s)$", text, re.M))
            if all(n.decode() in self.published for n in named):
                await self.keep(playlist)
                self._playlist = text
                stored += 1
        return stored

    async def finish(self) -> None:
        """The recording is complete: the playlist becomes VOD with ENDLIST, then the rest is stored."""
        playlist = self.folder / HLS_PLAYLIST
        if playlist.exists():
            # Replaced whole (on local storage this folder is served as it is written).
            staged = self.folder / f".{HLS_PLAYLIST}.final"
            staged.write_text(finalize_playlist(playlist.read_text()))
            os.replace(staged, playlist)
        await self.sync()

    @property
    def playlist_stored(self) -> bool:
        return self._playlist is not None

    def stored_bytes(self) -> int:
        return sum(
            (self.folder / name).stat().st_size for name in self.published if (self.folder / name).exists()
        ) + len(self._playlist or b"")


def hls_names(folder: pathlib.Path) -> list[pathlib.Path]:
    """The HLS files of an encode in this folder (the playlist, init and media segments)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.name in (HLS_PLAYLIST, HLS_INIT) or _SEGMENT.fullmatch(p.name)]


class HlsRun:
    """The HLS of one compressed encode, from its start to its end: what ffmpeg writes into the
    workspace is stored as it appears (HlsPublisher), and the HLS asset is recorded as soon as a
    first playlist is stored, so a share page opened during the recording finds it; finish()
    makes it VOD with ENDLIST and records its size."""

    def __init__(self, catalog, ws, owner_id: str, video_id: str) -> None:
        self.catalog, self.ws, self.owner_id, self.video_id = catalog, ws, owner_id, video_id
        self.publisher = HlsPublisher(ws.folder, ws.keep)
        self.key = ws.key(HLS_PLAYLIST)
        self.recorded = False

    @property
    def folder(self) -> pathlib.Path:
        return self.ws.folder

    async def start(self) -> None:
        """A new encode rewrites the HLS from scratch: an earlier encode's files (a live encode
        given back to the queue) go first, so its segments never mix with this one's."""
        self.ws.folder.mkdir(parents=True, exist_ok=True)
        for old in await asyncio.to_thread(hls_names, self.ws.folder):
            old.unlink(missing_ok=True)

    async def poll(self) -> None:
        """Store what ffmpeg has finished; call it every second or so while the encode runs."""
        await self.publisher.sync()
        if self.publisher.playlist_stored and not self.recorded:
            await self.catalog.put_asset(self.owner_id, self.video_id, "HLS", self.key, PLAYLIST_TYPE, 0)
            self.recorded = True

    async def finish(self) -> None:
        await self.publisher.finish()
        if self.publisher.playlist_stored:
            await self.catalog.put_asset(
                self.owner_id, self.video_id, "HLS", self.key, PLAYLIST_TYPE, self.publisher.stored_bytes()
            )
            self.recorded = True
