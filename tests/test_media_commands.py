"""Unit tests of the pure ffmpeg command builders and output parsers."""
from __future__ import annotations

import pytest

from media_service import commands
from media_service.probe import parse_probe, parse_progress_seconds
from media_service.settings import CompressionProfile, ThumbnailSettings

FFMPEG_I_OUTPUT = """\
Input #0, matroska,webm, from 'source.webm':
  Metadata:
    ENCODER         : Lavf60.16.100
  Duration: N/A, start: -0.007000, bitrate: N/A
  Stream #0:0: Video: vp8, yuv420p(progressive), 1280x720, SAR 1:1 DAR 16:9, 30 fps, 30 tbr, 1k tbn
  Stream #0:1(eng): Audio: opus, 48000 Hz, mono, fltp
At least one output file must be specified
"""

MP4_OUTPUT = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'compressed.mp4':
  Duration: 00:01:00.03, start: 0.000000, bitrate: 1871 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt470bg/unknown/unknown, progressive), 1280x720 [SAR 1:1 DAR 16:9], 1735 kb/s, 29.97 fps, 30 tbr, 15360 tbn (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, mono, fltp, 128 kb/s (default)
"""


def test_parse_mediarecorder_like_webm_has_no_duration():
    result = parse_probe(FFMPEG_I_OUTPUT)
    assert result.container == "matroska,webm" and result.is_webm_family
    assert result.duration_seconds is None
    assert (result.video.codec, result.video.width, result.video.height, result.video.fps) == ("vp8", 1280, 720, 30.0)
    assert result.audio.codec == "opus"


def test_parse_mp4():
    result = parse_probe(MP4_OUTPUT)
    assert result.is_mp4_family and not result.is_webm_family
    assert result.duration_seconds == pytest.approx(60.03)
    assert (result.video.codec, result.video.width, result.video.height) == ("h264", 1280, 720)
    assert result.video.fps == pytest.approx(29.97)
    assert result.audio.codec == "aac"


def test_parse_garbage_has_no_streams():
    result = parse_probe("source.bin: Invalid data found when processing input\n")
    assert result.video is None and result.audio is None and result.container is None


@pytest.mark.parametrize("line,seconds", [
    ("out_time_us=1500000", 1.5), ("out_time_ms=2000000", 2.0), ("out_time_us=N/A", None),
    ("out_time_us=-7000", 0.0), ("frame=12", None)])
def test_progress_lines(line, seconds):
    assert parse_progress_seconds(line) == seconds


def test_compress_command_keeps_timing_and_plays_everywhere():
    args = commands.compress_args("ffmpeg", "in.webm", "out.mp4", CompressionProfile(), True, True)
    pairs = dict(zip(args, args[1:]))
    assert pairs["-c:v"] == "libx264" and pairs["-preset"] == "veryfast" and pairs["-crf"] == "26"
    assert pairs["-fps_mode"] == "passthrough"
    assert pairs["-movflags"] == "+faststart"
    assert pairs["-pix_fmt"] == "yuv420p"
    assert pairs["-c:a"] == "aac"
    assert pairs["-f"] == "mp4"
    assert "1080" in pairs["-vf"] and "min(1" in pairs["-vf"]  # downscale only, never up
    assert args.index("-progress") < args.index("-i")
    assert args[-1] == "out.mp4"
    assert ["-map", "0:v:0"] == args[args.index("-map"):args.index("-map") + 2]


def test_compress_command_without_audio_maps_no_audio():
    args = commands.compress_args("ffmpeg", "in.webm", "out.mp4", CompressionProfile(), True, False)
    assert "0:a:0" not in args and "-c:a" not in args


def test_thumbnail_seeks_before_input_and_bounds_the_filter():
    args = commands.thumbnail_args("ffmpeg", "in.webm", "t.jpg", 12.5, ThumbnailSettings())
    assert args.index("-ss") < args.index("-i")
    assert args[args.index("-ss") + 1] == "12.500"
    graph = args[args.index("-filter_complex") + 1]
    assert "thumbnail=n=30" in graph
    assert args[args.index("-vframes") + 1] == "1"


@pytest.mark.parametrize("duration,expected", [(None, 0.0), (0.04, 0.0), (1.9, 0.0), (60.0, 15.0)])
def test_thumbnail_time(duration, expected):
    assert commands.thumbnail_time(duration, 30, 30.0) == pytest.approx(expected)


def test_thumbnail_time_leaves_room_for_the_candidate_frames():
    at = commands.thumbnail_time(3.0, 30, 30.0)
    assert 0.0 <= at <= 3.0 - 1.0


def test_remux_copies_streams():
    args = commands.remux_args("ffmpeg", "source.webm", "original.webm", "webm")
    pairs = dict(zip(args, args[1:]))
    assert pairs["-c"] == "copy" and pairs["-map"] == "0" and pairs["-f"] == "webm"
    mp4 = commands.remux_args("ffmpeg", "source.mp4", "original.mp4", "mp4")
    assert "+faststart" in mp4


def test_global_args_come_first():
    args = commands.remux_args("/usr/bin/ffmpeg", "a", "b", "webm")
    assert args[:6] == ["/usr/bin/ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
