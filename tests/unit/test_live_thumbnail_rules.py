"""The pure rules of the stop path: when a live thumbnail is due, when the first chunk's probe
stands for the whole upload's, and reading a Matroska header's Duration as ffmpeg prints it."""

from __future__ import annotations

import struct

from media_service.containers import EBML_MAGIC, matroska_duration
from media_service.live_thumbnail import thumbnail_due
from media_service.probe import ProbeResult, StreamInfo, describes_streams


def test_the_first_thumbnail_is_due_once_enough_has_arrived_then_each_time_it_doubles():
    assert not thumbnail_due(3.9, None, 4.0)
    assert thumbnail_due(4.0, None, 4.0)
    assert not thumbnail_due(7.9, 4.0, 4.0)
    assert thumbnail_due(8.0, 4.0, 4.0)
    assert not thumbnail_due(15.0, 8.5, 4.0)
    assert thumbnail_due(17.0, 8.5, 4.0)


def test_a_first_seconds_of_zero_turns_live_thumbnails_off():
    assert not thumbnail_due(100.0, None, 0.0)


VIDEO = StreamInfo(0, "video", "vp8", 1920, 1080, 30.0)
AUDIO = StreamInfo(1, "audio", "opus")


def test_a_header_with_every_stream_described_stands_for_the_whole_upload():
    assert describes_streams(ProbeResult("matroska,webm", None, (VIDEO, AUDIO)))
    assert describes_streams(ProbeResult("matroska,webm", None, (AUDIO,)))


def test_a_video_without_its_size_an_ambiguous_listing_or_no_stream_needs_a_probe():
    assert not describes_streams(ProbeResult("matroska,webm", None, (StreamInfo(0, "video", "vp8"),)))
    assert not describes_streams(ProbeResult("matroska,webm", None, (VIDEO,), ambiguity="forged"))
    assert not describes_streams(ProbeResult("matroska,webm", None, ()))


def element(element_id: int, body: bytes) -> bytes:
    id_bytes = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    return id_bytes + (0x0100000000000000 | len(body)).to_bytes(8, "big") + body


def matroska(info: bytes, before_info: bytes = b"") -> bytes:
    header = element(0x1A45DFA3, element(0x4282, b"webm"))
    assert header.startswith(EBML_MAGIC)
    return header + element(0x18538067, before_info + element(0x1549A966, info) + element(0x1F43B675, b"\x00" * 16))


def test_the_duration_is_read_from_the_segment_info_and_rounded_as_ffmpeg_prints_it():
    # 30.0149 s in milliseconds (the default TimestampScale): ffmpeg prints 00:00:30.01.
    data = matroska(element(0x4489, struct.pack(">d", 30014.9)), before_info=element(0xEC, b"\x00" * 40))
    assert matroska_duration(data) == 30.01
    # 30.015 s rounds up; a float of 4 bytes and a TimestampScale of 1 us.
    scaled = element(0x2AD7B1, (1000).to_bytes(3, "big")) + element(0x4489, struct.pack(">f", 30_015_000.0))
    assert matroska_duration(matroska(scaled)) == 30.02


def test_no_duration_a_cut_header_or_another_format_says_none():
    assert matroska_duration(matroska(element(0x2AD7B1, (1_000_000).to_bytes(3, "big")))) is None
    assert matroska_duration(matroska(element(0x4489, struct.pack(">d", 1000.0)))[:30]) is None
    assert matroska_duration(b"\x00\x00\x00\x18ftypmp42") is None
    assert matroska_duration(matroska(element(0x4489, struct.pack(">d", float("nan"))))) is None
