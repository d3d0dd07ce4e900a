"""Which recording container a file is, from its first bytes, decided in Python before ffmpeg sees it.

ffmpeg guesses the format of an input from its content and name, and among the formats it can
guess are playlists (HLS, DASH, ffconcat) whose entries it then opens: files anywhere, or URLs.
An upload is therefore identified here from its magic bytes, and ffmpeg is told which demuxer to
use (commands.py forces it on every input): a recording is WebM/Matroska (EBML) or ISO BMFF (MP4),
nothing else. Pure functions on bytes, so ingest can call `sniff` on a first chunk too.
"""

from __future__ import annotations

import enum
import math
import struct

# How many leading bytes sniff() needs at most: the EBML header of a real recording is about 40
# bytes, and an MP4 decision needs only the first box header.
SNIFF_BYTES = 4096

EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_DOCTYPE_ID = 0x4282
# Top-level boxes an ISO BMFF recording may start with: a normal or fragmented MP4 starts with
# ftyp (MediaRecorder) or styp (a segment); moov/moof/free/skip/wide first appear in older writers.
ISO_BMFF_FIRST_BOXES = {b"ftyp", b"styp", b"moov", b"moof", b"free", b"skip", b"wide"}


class Container(enum.Enum):
    """A recording container we accept. value: the family the rest of the service uses."""

    WEBM = "webm"
    MATROSKA = "matroska"
    MP4 = "mp4"

    @property
    def demuxer(self) -> str:
        """The ffmpeg demuxer forced on inputs of this container (-f)."""
        return "mov" if self is Container.MP4 else "matroska"

    @property
    def format_whitelist(self) -> str:
        """The only format ffmpeg may open for such an input (names as ffmpeg lists them)."""
        return "mov,mp4,m4a,3gp,3g2,mj2" if self is Container.MP4 else "matroska,webm"

    @property
    def family(self) -> str:
        """webm for both EBML doctypes (they share a demuxer and the declared-type rules), else mp4."""
        return "mp4" if self is Container.MP4 else "webm"

    @property
    def label(self) -> str:
        return {"webm": "WebM", "matroska": "Matroska", "mp4": "MP4"}[self.value]


def _vint(data: bytes, offset: int, strip_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at offset: (value, length), or None if cut off or invalid."""
    if offset >= len(data) or data[offset] == 0:
        return None
    first = data[offset]
    length = 8 - first.bit_length() + 1
    if offset + length > len(data):
        return None
    value = first & (0xFF >> length) if strip_marker else first
    for byte in data[offset + 1 : offset + length]:
        value = (value << 8) | byte
    return value, length


def _ebml_doctype(data: bytes) -> str | None:
    """The DocType inside the EBML header element at the start of data, or None."""
    size = _vint(data, len(EBML_MAGIC), strip_marker=True)
    if size is None:
        return None
    header_size, size_length = size
    position = len(EBML_MAGIC) + size_length
    end = min(position + header_size, len(data))
    while position < end:
        element = _vint(data, position, strip_marker=False)
        if element is None:
            return None
        element_id, id_length = element
        length = _vint(data, position + id_length, strip_marker=True)
        if length is None:
            return None
        value_size, length_length = length
        value_start = position + id_length + length_length
        if element_id == _DOCTYPE_ID:
            if value_size > 32 or value_start + value_size > len(data):
                return None
            return data[value_start : value_start + value_size].rstrip(b"\0").decode("ascii", "replace")
        position = value_start + value_size
    return None


def sniff(first_bytes: bytes) -> Container | None:
    """The recording container that first_bytes (the start of a file or of its first chunk, up to
    SNIFF_BYTES) begin, or None for anything else: playlists, manifests, concat scripts, AVI,
    text, an EBML file of another doctype, too few bytes to tell."""
    data = bytes(first_bytes[:SNIFF_BYTES])
    if data.startswith(EBML_MAGIC):
        doctype = _ebml_doctype(data)
        if doctype == "webm":
            return Container.WEBM
        if doctype == "matroska":
            return Container.MATROSKA
        return None
    if len(data) >= 8 and data[4:8] in ISO_BMFF_FIRST_BOXES:
        size = int.from_bytes(data[:4], "big")
        # 0 means "to the end of the file", 1 means a 64-bit size follows; otherwise at least a header.
        if size in (0, 1) or size >= 8:
            return Container.MP4
    return None


def for_original(content_type: str) -> Container | None:
    """The container of a seekable original we wrote (its catalogued content type)."""
    media_type = content_type.split(";")[0].strip().lower()
    return {"video/webm": Container.WEBM, "video/x-matroska": Container.MATROSKA, "video/mp4": Container.MP4}.get(
        media_type
    )


def for_muxer(muxer: str) -> Container:
    """The container a file we wrote with this ffmpeg muxer is in (to read it back)."""
    return {
        "webm": Container.WEBM,
        "matroska": Container.MATROSKA,
        "mp4": Container.MP4,
        "mov": Container.MP4,
        "ipod": Container.MP4,
    }[muxer]


# Matroska element ids (with their length markers, as _vint reads them without stripping).
_SEGMENT, _INFO, _CLUSTER, _TIMESTAMP_SCALE, _DURATION = 0x18538067, 0x1549A966, 0x1F43B675, 0x2AD7B1, 0x4489
# Where a muxer puts the Segment's Info: after the EBML header and a SeekHead, in the first bytes.
MATROSKA_HEADER_BYTES = 64 * 1024


def matroska_duration(data: bytes) -> float | None:
    """The Segment Info's Duration of a Matroska/WebM file from its first bytes, in seconds,
    rounded to the centisecond as ffmpeg prints it (so it equals what a probe of the file reads);
    None when it has none or the bytes do not say. Meant for our own outputs (the live remux's
    original), to describe them without running ffmpeg."""
    header = _vint(data, len(EBML_MAGIC), strip_marker=True) if data.startswith(EBML_MAGIC) else None
    if header is None:
        return None
    position = len(EBML_MAGIC) + header[1] + header[0]
    segment = _element(data, position)
    if segment is None or segment[0] != _SEGMENT:
        return None
    position = segment[1]  # into the Segment (its size may be "unknown": not needed)
    while (element := _element(data, position)) is not None:
        element_id, body, size = element
        if element_id == _CLUSTER:
            return None
        if element_id == _INFO:
            return _info_duration(data[body : body + size])
        position = body + size
    return None


def _element(data: bytes, position: int) -> tuple[int, int, int] | None:
    """(id, where its body starts, its size) of the element at position, or None if cut off."""
    element = _vint(data, position, strip_marker=False)
    if element is None:
        return None
    length = _vint(data, position + element[1], strip_marker=True)
    if length is None:
        return None
    return element[0], position + element[1] + length[1], length[0]


def _info_duration(info: bytes) -> float | None:
    scale, ticks, position = 1_000_000, None, 0
    while (element := _element(info, position)) is not None:
        element_id, body, size = element
        value = info[body : body + size]
        if len(value) < size:
            return None
        if element_id == _TIMESTAMP_SCALE and 0 < size <= 8:
            scale = int.from_bytes(value, "big")
        elif element_id == _DURATION and size in (4, 8):
            ticks = struct.unpack(">f" if size == 4 else ">d", value)[0]
        position = body + size
    if ticks is None or not math.isfinite(ticks) or ticks < 0:
        return None
    # As libavformat: the duration in microseconds, printed as HH:MM:SS.cc after adding 5 ms.
    microseconds = int(ticks * scale / 1000)
    return (microseconds + 5000) // 10000 / 100


_CLUSTER_TIMESTAMP = 0xE7
# Elements whose bodies the clock reads (a Cluster's Timestamp, the Segment's Info); anything
# claiming more is not what it says, and the clock stops there.
_READ_BODY_BYTES = 64 * 1024


class MatroskaClock:
    """How far a Matroska/WebM stream has arrived, from its bytes as they come (feed() each chunk
    in order): the newest Cluster's Timestamp, in seconds. ffmpeg's -progress tells the same only
    when a packet comes after its report period, so after a burst of chunks it stays behind until
    more input arrives. Only element headers are read: blocks are skipped by their sizes, so no
    payload byte is ever taken for structure. Segment and Cluster are entered (their size may be
    "unknown", as MediaRecorder writes them); any other element of unknown size ends the reading
    (seconds then stays where it was)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.stopped = False
        self._scale = 1_000_000  # ns per tick: Info's TimestampScale, Matroska's default
        self._skip = 0  # body bytes of the current element still to pass over
        self._pending = b""  # the start of an element header (or a body to read) cut off by a chunk's end

    def feed(self, data: bytes) -> None:
        if self.stopped:
            return
        if self._skip >= len(data):
            self._skip -= len(data)
            return
        buffer = self._pending + data[self._skip :]
        self._skip = 0
        position = 0
        while not self.stopped:
            if buffer[position : position + 1] == b"\0":
                self.stopped = True  # not an element id: not the stream it claimed to be
                break
            element = _vint(buffer, position, strip_marker=False)
            if element is None:
                break  # the header is cut off: wait for more
            element_id, id_length = element
            if buffer[position + id_length : position + id_length + 1] == b"\0":
                self.stopped = True
                break
            sized = _vint(buffer, position + id_length, strip_marker=True)
            if sized is None:
                break
            size, size_length = sized
            body = position + id_length + size_length
            unknown = size == (1 << (7 * size_length)) - 1  # all value bits set: "unknown"
            if element_id in (_SEGMENT, _CLUSTER):
                position = body  # into its children
                continue
            if unknown:
                self.stopped = True
                break
            if element_id in (_CLUSTER_TIMESTAMP, _INFO):
                if size > _READ_BODY_BYTES:
                    self.stopped = True
                    break
                if body + size > len(buffer):
                    break  # its body is cut off: wait for more
                self._read(element_id, buffer[body : body + size])
            if body + size > len(buffer):
                self._skip = body + size - len(buffer)
                position = len(buffer)
                break
            position = body + size
        self._pending = b"" if self.stopped else buffer[position:]
        if len(self._pending) > _READ_BODY_BYTES + 16:  # only a header or a small body waits here
            self.stopped, self._pending = True, b""

    def _read(self, element_id: int, value: bytes) -> None:
        if element_id == _INFO:
            position = 0
            while (child := _element(value, position)) is not None:
                child_id, body, size = child
                if child_id == _TIMESTAMP_SCALE and 0 < size <= 8 and body + size <= len(value):
                    self._scale = int.from_bytes(value[body : body + size], "big") or self._scale
                position = body + size
        elif len(value) <= 8:
            self.seconds = max(self.seconds, int.from_bytes(value, "big") * self._scale / 1e9)
