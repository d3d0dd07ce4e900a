"""Unit tests of the pure ffmpeg command builders and output parsers."""

from __future__ import annotations

import pytest

from media_service import commands
from media_service.containers import Container
from media_service.probe import parse_probe, parse_progress_seconds
from media_service.settings import PROFILES, CompressionProfile, MediaLimits, profile_from_env

W = Container.WEBM
BOUND = 1 << 30

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


@pytest.mark.parametrize(
    "line,seconds",
    [
        ("out_time_us=1500000", 1.5),
        ("out_time_ms=2000000", 2.0),
        ("out_time_us=N/A", None),
        ("out_time_us=-7000", 0.0),
        ("frame=12", None),
    ],
)
def test_progress_lines(line, seconds):
    assert parse_progress_seconds(line) == seconds


def test_compress_command_keeps_timing_and_plays_everywhere():
    args = commands.compress_args("ffmpeg", "in.webm", W, "out.mp4", CompressionProfile(), True, True, BOUND)
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
    assert ["-map", "0:v:0"] == args[args.index("-map") : args.index("-map") + 2]


def test_profiles_pick_codec_container_and_options():
    vp9 = commands.compress_args("ffmpeg", "in.webm", W, "out.webm", PROFILES["vp9"], True, True, BOUND)
    pairs = dict(zip(vp9, vp9[1:]))
    assert (pairs["-c:v"], pairs["-c:a"], pairs["-f"]) == ("libvpx-vp9", "libopus", "webm")
    assert pairs["-b:v"] == "0" and pairs["-crf"] == "42" and "-movflags" not in vp9
    args = commands.compress_args("ffmpeg", "i", W, "o", PROFILES["av1"], True, False, BOUND)
    assert args[args.index("-c:v") + 1] == "libsvtav1"


def test_profile_settings_from_the_environment():
    profile = profile_from_env(
        {"COMPRESS_PROFILE": "h264-small", "COMPRESS_CRF": "31", "COMPRESS_MAX_HEIGHT": "720", "COMPRESS_FPS": "15"}
    )
    args = commands.compress_args("ffmpeg", "i", W, "o", profile, True, True, BOUND)
    pairs = dict(zip(args, args[1:]))
    assert pairs["-preset"] == "slow" and pairs["-crf"] == "31"
    assert "720" in pairs["-vf"] and pairs["-vf"].endswith("fps=15")
    assert "-fps_mode" not in pairs  # a constant rate was asked for
    with pytest.raises(ValueError, match="COMPRESS_PROFILE"):
        profile_from_env({"COMPRESS_PROFILE": "h265"})


def test_compress_command_without_audio_maps_no_audio():
    args = commands.compress_args("ffmpeg", "in.webm", W, "out.mp4", CompressionProfile(), True, False, BOUND)
    assert "0:a:0" not in args and "-c:a" not in args


def test_thumbnail_seeks_before_input_and_bounds_the_filter():
    args = commands.still_args(
        "ffmpeg", "in.webm", W, "t.jpg", 12.5, 640, "JPEG", representative=True, candidate_frames=30
    )
    assert args.index("-ss") < args.index("-i")
    assert args[args.index("-ss") + 1] == "12.500"
    graph = args[args.index("-filter_complex") + 1]
    assert "thumbnail=n=30" in graph and "min(640" in graph
    assert args[args.index("-vframes") + 1] == "1"
    assert args[args.index("-c") + 1] == "mjpeg"


def test_a_still_at_an_exact_time_has_no_thumbnail_filter():
    args = commands.still_args("ffmpeg", "in.webm", W, "t.webp", 3, 320, "WEBP", representative=False)
    graph = args[args.index("-filter_complex") + 1]
    assert "thumbnail" not in graph and "min(320" in graph
    assert args[args.index("-c") + 1] == "libwebp" and args[len(args) - 1 - args[::-1].index("-f") + 1] == "webp"


URL = "http://127.0.0.1:9000/bucket/users/a/videos/v/original.webm?X-Amz-Signature=abc"


@pytest.mark.parametrize(
    "build",
    [
        lambda src: commands.still_args("ffmpeg", src, W, "t.jpg", 1, 320, "JPEG", representative=False),
        lambda src: commands.preview_args("ffmpeg", src, W, "p.webp", 1, 2, 320, 10, "WEBP", 1 << 20),
        lambda src: commands.extract_audio_args("ffmpeg", src, W, "a.m4a", commands.audio_output("AAC", "opus"), 10.0),
    ],
)
def test_an_input_read_over_http_reconnects_and_times_out(build):
    remote, local = build(URL), build("in.webm")
    assert remote[remote.index("-i") + 1] == URL
    before_input = remote[: remote.index("-i")]
    assert before_input[before_input.index("-reconnect") + 1] == "1"
    assert before_input[before_input.index("-rw_timeout") + 1] == "30000000"
    assert "-reconnect" not in local and "-rw_timeout" not in local  # a file has no such options


@pytest.mark.parametrize(
    "audio_format,source,codec,muxer,name",
    [
        ("AAC", "opus", "aac", "ipod", "audio.m4a"),
        ("MP3", "opus", "libmp3lame", "mp3", "audio.mp3"),
        ("FLAC", "opus", "flac", "flac", "audio.flac"),
        ("ORIGINAL", "opus", "copy", "opus", "audio-original.opus"),
        ("ORIGINAL", "aac", "copy", "ipod", "audio-original.m4a"),
        ("ORIGINAL", "pcm_s16le", "copy", "matroska", "audio-original.mka"),
    ],
)
def test_audio_extraction_commands(audio_format, source, codec, muxer, name):
    output = commands.audio_output(audio_format, source)
    args = commands.extract_audio_args("ffmpeg", "in.webm", W, f"out/{output.file_name}", output, 10.0)
    pairs = dict(zip(args[args.index("-i") :], args[args.index("-i") + 1 :]))  # the output's options
    assert (pairs["-c:a"], pairs["-f"], output.file_name) == (codec, muxer, name)
    assert pairs["-map"] == "0:a:0" and "-vn" in args


def test_mp3_is_vbr_unless_a_bitrate_is_asked():
    args = commands.extract_audio_args("f", "i", W, "o", commands.audio_output("MP3", "opus", mp3_quality=5), 10.0)
    assert args[args.index("-q:a") + 1] == "5" and "-b:a" not in args
    args = commands.extract_audio_args("f", "i", W, "o", commands.audio_output("MP3", "opus", bitrate_kbps=64), 10.0)
    assert args[args.index("-b:a") + 1] == "64k" and "-q:a" not in args
    default = commands.extract_audio_args("f", "i", W, "o", commands.audio_output("MP3", "opus"), 10.0)
    assert default[default.index("-q:a") + 1] == "2"


def test_preview_is_bounded_and_gif_gets_a_palette():
    gif = commands.preview_args("ffmpeg", "in.webm", W, "p.gif", 2, 3, 320, 10, "GIF", 1 << 20)
    graph = gif[gif.index("-filter_complex") + 1]
    assert "palettegen" in graph and "paletteuse" in graph and "fps=fps=10" in graph
    assert gif[gif.index("-fs") + 1] == str(1 << 20) and gif[gif.index("-t") + 1] == "3.000"
    webp = commands.preview_args("ffmpeg", "in.webm", W, "p.webp", 2, 3, 320, 10, "WEBP", 1 << 20)
    assert webp[webp.index("-c") + 1] == "libwebp_anim" and "palettegen" not in " ".join(webp)


@pytest.mark.parametrize("duration,expected", [(None, 0.0), (0.04, 0.0), (1.9, 0.0), (60.0, 15.0)])
def test_thumbnail_time(duration, expected):
    assert commands.thumbnail_time(duration, 30, 30.0) == pytest.approx(expected)


def test_thumbnail_time_leaves_room_for_the_candidate_frames():
    at = commands.thumbnail_time(3.0, 30, 30.0)
    assert 0.0 <= at <= 3.0 - 1.0


def test_remux_copies_streams():
    args = commands.remux_args("ffmpeg", "source.webm", W, "original.webm", "webm", BOUND)
    pairs = dict(zip(args[args.index("-i") :], args[args.index("-i") + 1 :]))
    assert pairs["-c"] == "copy" and pairs["-map"] == "0" and pairs["-f"] == "webm"
    mp4 = commands.remux_args("ffmpeg", "source.mp4", Container.MP4, "original.mp4", "mp4", BOUND)
    assert "+faststart" in mp4


def test_global_args_come_first():
    args = commands.remux_args("/usr/bin/ffmpeg", "a", W, "b", "webm", BOUND)
    assert args[:6] == ["/usr/bin/ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]


# ---- untrusted media: containers, forced demuxers, whitelists, bounds ------------------------
from media_service import containers, sandbox  # noqa: E402
from media_service.pipeline import StreamExtent, media_limit_refusal, reconcile_duration  # noqa: E402
from media_service.probe import parse_last_progress, sanitise_ffmpeg_message  # noqa: E402

EBML_WEBM = (
    bytes.fromhex("1a45dfa3 9f 4286 81 01 42f7 81 01 42f2 81 04 42f3 81 08 4282 84")
    + b"webm"
    + bytes.fromhex("4287 81 04 4285 81 02")
    + b"\x18\x53\x80\x67"
)
EBML_MATROSKA = (
    bytes.fromhex("1a45dfa3 a3 4286 81 01 42f7 81 01 42f2 81 04 42f3 81 08 4282 88")
    + b"matroska"
    + bytes.fromhex("4287 81 04 4285 81 02")
)


@pytest.mark.parametrize(
    "first_bytes,expected",
    [
        (EBML_WEBM, Container.WEBM),
        (EBML_MATROSKA, Container.MATROSKA),
        (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", Container.MP4),
        (b"\x00\x00\x00\x18styp", Container.MP4),
        (b"\x00\x00\x00\x00moov", Container.MP4),
        (b"#EXTM3U\n#EXTINF:1,\n../../../bob/videos/x/compressed.mp4\n", None),
        (b'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011">', None),
        (b"ffconcat version 1.0\nfile ../../bob/videos/x/compressed.mp4\n", None),
        (b"RIFF\x00\x10\x00\x00AVI LIST", None),
        (EBML_WEBM.replace(b"webm", b"wbem"), None),  # another EBML doctype
        (EBML_WEBM[:6], None),  # too short to tell
        (b"\x00\x00\x00\x04ftyp", None),  # a box smaller than its own header
        (b"", None),
    ],
)
def test_sniff_knows_recording_containers_only(first_bytes, expected):
    assert containers.sniff(first_bytes) is expected


@pytest.mark.parametrize(
    "container,demuxer,formats",
    [
        (Container.WEBM, "matroska", "matroska,webm"),
        (Container.MATROSKA, "matroska", "matroska,webm"),
        (Container.MP4, "mov", "mov,mp4,m4a,3gp,3g2,mj2"),
    ],
)
def test_containers_name_their_demuxer(container, demuxer, formats):
    assert (container.demuxer, container.format_whitelist) == (demuxer, formats)


def _before_input(args: list[str]) -> dict[str, str]:
    head = args[: args.index("-i")]
    return dict(zip(head, head[1:]))


EVERY_BUILDER = {
    "probe": lambda src, c: commands.probe_args("ffmpeg", src, c),
    "extent": lambda src, c: commands.stream_extent_args("ffmpeg", src, c, 3600),
    "decode": lambda src, c: commands.decode_check_args("ffmpeg", src, c, 100),
    "remux": lambda src, c: commands.remux_args("ffmpeg", src, c, "/w/o.webm", "webm", BOUND),
    "compress": lambda src, c: commands.compress_args(
        "ffmpeg", src, c, "/w/o.mp4", CompressionProfile(), True, True, BOUND
    ),
    "still": lambda src, c: commands.still_args("ffmpeg", src, c, "/w/t.jpg", 1, 320, "JPEG", False),
    "preview": lambda src, c: commands.preview_args("ffmpeg", src, c, "/w/p.gif", 1, 2, 320, 10, "GIF", 1 << 20),
    "audio": lambda src, c: commands.extract_audio_args(
        "ffmpeg", src, c, "/w/a.flac", commands.audio_output("FLAC", "opus"), 10.0
    ),
    "live remux": lambda src, c: commands.live_remux_args("ffmpeg", c, "/w/o.webm", "webm", MediaLimits()),
    "live compress": lambda src, c: commands.live_compress_args(
        "ffmpeg", c, "/w/c.mp4", CompressionProfile(), True, True, (640, 360), MediaLimits()
    ),
}


@pytest.mark.parametrize("builder", EVERY_BUILDER)
@pytest.mark.parametrize("container", list(Container))
def test_every_input_has_its_demuxer_forced_and_whitelists(builder, container):
    args = EVERY_BUILDER[builder]("/storage/users/a/videos/v/source.webm", container)
    assert args.count("-i") == 1
    options = _before_input(args)
    assert options["-f"] == container.demuxer
    assert options["-protocol_whitelist"] in ("file,pipe",)
    assert options["-format_whitelist"] == container.format_whitelist
    assert ("-enable_drefs" in options) == (container is Container.MP4)


@pytest.mark.parametrize("builder", ["probe", "still", "preview", "audio", "compress"])
def test_a_presigned_url_may_use_http_and_nothing_more(builder):
    args = EVERY_BUILDER[builder](URL, Container.WEBM)
    assert _before_input(args)["-protocol_whitelist"] == "http,https,tcp,tls"
    assert "file" not in _before_input(args)["-protocol_whitelist"].split(",")


@pytest.mark.parametrize("builder", ["remux", "compress", "still", "preview", "audio", "live remux", "live compress"])
def test_every_output_has_a_size_bound(builder):
    args = EVERY_BUILDER[builder]("/w/source.webm", Container.WEBM)
    outputs = [arg for arg in args[args.index("-i") + 2 :] if arg.startswith("/w/")]
    assert outputs and args.count("-fs") == len(outputs)
    assert all(int(args[i + 1]) > 0 for i, arg in enumerate(args) if arg == "-fs")


def test_decoders_are_bounded_in_frame_size():
    limits = MediaLimits()
    for builder in ("decode", "live remux", "live compress"):
        args = EVERY_BUILDER[builder]("/w/source.webm", Container.WEBM)
        assert int(_before_input(args)["-max_pixels"]) in (100, limits.max_video_pixels)


def test_output_bounds_grow_with_duration_and_never_vanish():
    assert commands.output_bytes_bound(None, 8e6, 1000) == 1000
    assert commands.output_bytes_bound(10, 8e6, 0) == 20_000_000  # 10 s at 1 MB/s, doubled
    assert commands.remux_bytes_bound(100 << 20) > 100 << 20
    assert commands.compressed_bytes_bound(4 * 3600, MediaLimits()) > commands.compressed_bytes_bound(1, MediaLimits())


# ---- the listing is read by structure, not by the first match --------------------------------
SPOOFED_TITLE = """\
Input #0, matroska,webm, from 'source.webm':
  Metadata:
    title           : Duration: 99:59:59.00, start: 0.000000, bitrate: 1 kb/s
    COMMENT         : x
                    :   Stream #0:0: Video: h264, yuv420p, 8192x8192, 30 fps
  Duration: 00:00:02.00, start: 0.000000, bitrate: 282 kb/s
  Stream #0:0: Video: vp8, yuv420p(tv, progressive), 320x240, SAR 1:1 DAR 4:3, 30 fps, 30 tbr, 1k tbn
    Metadata:
      title           :   Duration: 11:00:00.00, start: 0
"""

FORGED_KEY = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'source.mp4':
  Metadata:
    k
  Duration: 99:00:00.00, start: 0.0, bitrate: 1 kb/s
x: v
  Duration: 00:00:02.00, start: 0.000000, bitrate: 282 kb/s
  Stream #0:0[0x1](und): Video: h264 (High), yuv420p, 320x240, 30 fps, 30 tbr, 15360 tbn (default)
"""


def test_metadata_that_imitates_probe_lines_is_not_believed():
    result = parse_probe(SPOOFED_TITLE)
    assert result.duration_seconds == pytest.approx(2.0)
    assert [(s.codec, s.width, s.height) for s in result.streams] == [("vp8", 320, 240)]
    assert result.ambiguity is None


def test_a_forged_structural_line_makes_the_listing_ambiguous():
    assert "Duration" in parse_probe(FORGED_KEY).ambiguity
    forged_stream = MP4_OUTPUT + "  Stream #0:0: Video: h264, yuv420p, 64x64, 30 fps\n"
    assert "Stream" in parse_probe(forged_stream).ambiguity


def test_the_last_progress_report_counts():
    text = "frame=10\nout_time_us=400000\nprogress=continue\nframe=61\nout_time_us=2033000\nprogress=end\n"
    progress = parse_last_progress(text)
    assert (progress.seconds, progress.frames) == (pytest.approx(2.033), 61)


@pytest.mark.parametrize(
    "claimed,extent,recorded",
    [(359999.0, 2.0, 2.0), (None, 2.0, 2.0), (2.04, 2.0, 2.04), (60.0, 59.5, 60.0), (3.0, None, 3.0)],
)
def test_the_stream_decides_when_the_container_claim_disagrees(claimed, extent, recorded):
    assert reconcile_duration(claimed, extent) == pytest.approx(recorded)


def _probe(width: int, height: int, fps: float = 30.0, duration: float | None = 10.0):
    from media_service.probe import ProbeResult, StreamInfo

    return ProbeResult("matroska,webm", duration, (StreamInfo(0, "video", "vp8", width, height, fps),))


def test_media_limits_from_the_stream():
    limits = MediaLimits()
    assert media_limit_refusal(_probe(1920, 1080), StreamExtent(10.0, 300), limits) is None
    assert "8192x8192" in media_limit_refusal(_probe(8192, 8192), StreamExtent(0.03, 1), limits)
    assert media_limit_refusal(_probe(4096, 2304), StreamExtent(1.0, 30), limits) is None  # 4K passes
    # The container says 10 s; the stream runs past the 4 h limit.
    assert "longer than the 4 h" in media_limit_refusal(_probe(320, 240), StreamExtent(4 * 3600 + 1, 10), limits)
    # Within the frame size and length, but too many frames (a 1000 fps claim, or counted).
    small = MediaLimits(max_decoded_pixels=1920 * 1080 * 100)
    assert "frames" in media_limit_refusal(_probe(1920, 1080, fps=1000.0), StreamExtent(1.0, 30), small)
    assert "frames" in media_limit_refusal(_probe(1920, 1080, fps=1.0), StreamExtent(1.0, 500), small)


# ---- what a user may see of ffmpeg's messages -------------------------------------------------
def test_sanitised_messages_hold_no_addresses_paths_urls_or_ids():
    raw = (
        "[matroska,webm @ 0x55d0c0a1b2c3] [IMGUTILS @ 0x7fff8786f950] Picture size too big | "
        "/srv/storage/users/bob/videos/0123456789abcdef0123456789abcdef/compressed.mp4: Permission denied | "
        "Error opening input file ../../../bob/videos/x/source.webm. | "
        "Failed to open http://127.0.0.1:9000/b/users/bob/x?X-Amz-Signature=abc | "
        "/tmp/pytest-of-root/s/scratch/users/alice/videos/v/1f/.original.webm.42.tmp | at 0xdeadbeef42"
    )
    clean = sanitise_ffmpeg_message(raw, hidden=("alice", "0123456789abcdef0123456789abcdef"))
    for leaked in (
        "0x55d0c0a1b2c3",
        "0x7fff",
        "0xdeadbeef42",
        "/srv",
        "storage",
        "users",
        "bob",
        "alice",
        "/tmp",
        "X-Amz",
        "127.0.0.1",
        "0123456789abcdef",
        "../",
    ):
        assert leaked not in clean, (leaked, clean)
    assert "Picture size too big" in clean and "compressed.mp4: Permission denied" in clean
    assert "Error opening input file source.webm." in clean


# ---- the sandbox prefix ------------------------------------------------------------------------
FULL = sandbox.Sandbox(unshare="/usr/bin/unshare", setpriv="/usr/bin/setpriv", landlock_abi=7, python="/py")


def test_local_runs_get_no_network_no_capabilities_and_their_folder_only():
    argv = [
        "/bin/ffmpeg",
        "-f",
        "matroska",
        "-i",
        "/s/users/a/videos/v/source.webm",
        "-f",
        "webm",
        "/s/users/a/videos/v/.original.webm.1.tmp",
    ]
    prefix = sandbox.sandbox_prefix(FULL, argv)
    assert prefix[:3] == ["/usr/bin/unshare", "--net", "--"]
    assert "--bounding-set=-all" in prefix and "--no-new-privs" in prefix
    assert prefix[prefix.index("--rw") + 1] == "/s/users/a/videos/v" and prefix.count("--rw") == 1
    assert "--no-tcp" in prefix and prefix[-1] == "--"


def test_url_runs_keep_the_network_for_that_port_only():
    argv = ["/bin/ffmpeg", "-i", URL, "-f", "image2", "/scratch/users/a/videos/v/w/.t.jpg.tmp"]
    prefix = sandbox.sandbox_prefix(FULL, argv)
    assert "--net" not in prefix
    assert prefix[prefix.index("--tcp") + 1] == "9000" and "--no-tcp" not in prefix


def test_no_sandbox_means_no_prefix_and_partial_sandboxes_use_what_they_have():
    assert sandbox.sandbox_prefix(None, ["/bin/ffmpeg"]) == []
    landlock_only = sandbox.sandbox_prefix(sandbox.Sandbox(landlock_abi=3, python="/py"), ["/bin/ffmpeg", "/w/x"])
    assert landlock_only[0] == "/py" and "--net" not in landlock_only and "--tcp" not in landlock_only
    with pytest.raises(ValueError, match="FFMPEG_SANDBOX"):
        sandbox.detect("sometimes")


def test_a_queued_encode_is_given_its_threads():
    args = commands.compress_args("ffmpeg", "in.webm", W, "out.mp4", CompressionProfile(), True, True, BOUND, threads=3)
    assert args[args.index("-threads") + 1] == "3" and args.index("-threads") > args.index("-i")
    assert "-threads" not in commands.compress_args(
        "ffmpeg", "in.webm", W, "out.mp4", CompressionProfile(), True, True, BOUND
    )


def test_the_matroska_clock_stops_at_bytes_that_are_not_what_they_claim():
    clock = containers.MatroskaClock()
    clock.feed(bytes(range(256)) * 100)  # starts with a 0 byte: no element id
    assert clock.stopped and clock.seconds == 0.0
    clock = containers.MatroskaClock()
    # A Segment of unknown size, then a Tracks element of unknown size (nothing to skip by).
    clock.feed(bytes.fromhex("18538067 01ffffffffffffff 1654ae6b 01ffffffffffffff") + b"x" * 100)
    assert clock.stopped
    clock = containers.MatroskaClock()
    # A Cluster Timestamp claiming a megabyte: not a timestamp.
    clock.feed(bytes.fromhex("1f43b675 01ffffffffffffff e7 10100000") + b"\x01" * 64)
    assert clock.stopped and clock.seconds == 0.0
