"""Unit tests of the pure ffmpeg command builders and output parsers."""
from __future__ import annotations

import pytest

from media_service import commands
from media_service.probe import parse_probe, parse_progress_seconds
from media_service.settings import PROFILES, CompressionProfile, profile_from_env

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


def test_profiles_pick_codec_container_and_options():
    vp9 = commands.compress_args("ffmpeg", "in.webm", "out.webm", PROFILES["vp9"], True, True)
    pairs = dict(zip(vp9, vp9[1:]))
    assert (pairs["-c:v"], pairs["-c:a"], pairs["-f"]) == ("libvpx-vp9", "libopus", "webm")
    assert pairs["-b:v"] == "0" and pairs["-crf"] == "42" and "-movflags" not in vp9
    args = commands.compress_args("ffmpeg", "i", "o", PROFILES["av1"], True, False)
    assert args[args.index("-c:v") + 1] == "libsvtav1"


def test_profile_settings_from_the_environment():
    profile = profile_from_env({"COMPRESS_PROFILE": "h264-small", "COMPRESS_CRF": "31",
                                "COMPRESS_MAX_HEIGHT": "720", "COMPRESS_FPS": "15"})
    args = commands.compress_args("ffmpeg", "i", "o", profile, True, True)
    pairs = dict(zip(args, args[1:]))
    assert pairs["-preset"] == "slow" and pairs["-crf"] == "31"
    assert "720" in pairs["-vf"] and pairs["-vf"].endswith("fps=15")
    assert "-fps_mode" not in pairs  # a constant rate was asked for
    with pytest.raises(ValueError, match="COMPRESS_PROFILE"):
        profile_from_env({"COMPRESS_PROFILE": "h265"})


def test_compress_command_without_audio_maps_no_audio():
    args = commands.compress_args("ffmpeg", "in.webm", "out.mp4", CompressionProfile(), True, False)
    assert "0:a:0" not in args and "-c:a" not in args


def test_thumbnail_seeks_before_input_and_bounds_the_filter():
    args = commands.still_args("ffmpeg", "in.webm", "t.jpg", 12.5, 640, "JPEG", representative=True,
                               candidate_frames=30)
    assert args.index("-ss") < args.index("-i")
    assert args[args.index("-ss") + 1] == "12.500"
    graph = args[args.index("-filter_complex") + 1]
    assert "thumbnail=n=30" in graph and "min(640" in graph
    assert args[args.index("-vframes") + 1] == "1"
    assert args[args.index("-c") + 1] == "mjpeg"


def test_a_still_at_an_exact_time_has_no_thumbnail_filter():
    args = commands.still_args("ffmpeg", "in.webm", "t.webp", 3, 320, "WEBP", representative=False)
    graph = args[args.index("-filter_complex") + 1]
    assert "thumbnail" not in graph and "min(320" in graph
    assert args[args.index("-c") + 1] == "libwebp" and args[args.index("-f") + 1] == "webp"


URL = "http://127.0.0.1:9000/bucket/users/a/videos/v/original.webm?X-Amz-Signature=abc"


@pytest.mark.parametrize("build", [
    lambda src: commands.still_args("ffmpeg", src, "t.jpg", 1, 320, "JPEG", representative=False),
    lambda src: commands.preview_args("ffmpeg", src, "p.webp", 1, 2, 320, 10, "WEBP", 1 << 20),
    lambda src: commands.extract_audio_args("ffmpeg", src, "a.m4a", commands.audio_output("AAC", "opus"))])
def test_an_input_read_over_http_reconnects_and_times_out(build):
    remote, local = build(URL), build("in.webm")
    assert remote[remote.index("-i") + 1] == URL
    before_input = remote[:remote.index("-i")]
    assert before_input[before_input.index("-reconnect") + 1] == "1"
    assert before_input[before_input.index("-rw_timeout") + 1] == "30000000"
    assert "-reconnect" not in local and "-rw_timeout" not in local  # a file has no such options


@pytest.mark.parametrize("audio_format,source,codec,muxer,name", [
    ("AAC", "opus", "aac", "ipod", "audio.m4a"), ("MP3", "opus", "libmp3lame", "mp3", "audio.mp3"),
    ("FLAC", "opus", "flac", "flac", "audio.flac"), ("ORIGINAL", "opus", "copy", "opus", "audio-original.opus"),
    ("ORIGINAL", "aac", "copy", "ipod", "audio-original.m4a"),
    ("ORIGINAL", "pcm_s16le", "copy", "matroska", "audio-original.mka")])
def test_audio_extraction_commands(audio_format, source, codec, muxer, name):
    output = commands.audio_output(audio_format, source)
    args = commands.extract_audio_args("ffmpeg", "in.webm", f"out/{output.file_name}", output)
    pairs = dict(zip(args, args[1:]))
    assert (pairs["-c:a"], pairs["-f"], output.file_name) == (codec, muxer, name)
    assert pairs["-map"] == "0:a:0" and "-vn" in args


def test_mp3_is_vbr_unless_a_bitrate_is_asked():
    args = commands.extract_audio_args("f", "i", "o", commands.audio_output("MP3", "opus", mp3_quality=5))
    assert args[args.index("-q:a") + 1] == "5" and "-b:a" not in args
    args = commands.extract_audio_args("f", "i", "o", commands.audio_output("MP3", "opus", bitrate_kbps=64))
    assert args[args.index("-b:a") + 1] == "64k" and "-q:a" not in args
    default = commands.extract_audio_args("f", "i", "o", commands.audio_output("MP3", "opus"))
    assert default[default.index("-q:a") + 1] == "2"


def test_preview_is_bounded_and_gif_gets_a_palette():
    gif = commands.preview_args("ffmpeg", "in.webm", "p.gif", 2, 3, 320, 10, "GIF", 1 << 20)
    graph = gif[gif.index("-filter_complex") + 1]
    assert "palettegen" in graph and "paletteuse" in graph and "fps=fps=10" in graph
    assert gif[gif.index("-fs") + 1] == str(1 << 20) and gif[gif.index("-t") + 1] == "3.000"
    webp = commands.preview_args("ffmpeg", "in.webm", "p.webp", 2, 3, 320, 10, "WEBP", 1 << 20)
    assert webp[webp.index("-c") + 1] == "libwebp_anim" and "palettegen" not in " ".join(webp)


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
