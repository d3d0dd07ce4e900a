"""Publishing an HLS rendition while ffmpeg writes it.

On local storage the encode writes into the video's own folder, so every finished segment (ffmpeg
renames it into place: hls_flags=temp_file) and every playlist version is served as it appears. On
an object store the encode writes into a private scratch folder: HlsPublisher uploads each new
finished segment, then the playlist, so a viewer never reads a playlist naming a segment that is
not stored yet; the init segment goes before the first media segment.
"""
from __future__ import annotations

import pathlib
import re
from collections.abc import Awaitable, Callable

from media_service.commands import HLS_INIT, HLS_PLAYLIST, HLS_SEGMENT_NAME, finalize_playlist

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
            playlist.write_text(finalize_playlist(playlist.read_text()))
        await self.sync()
