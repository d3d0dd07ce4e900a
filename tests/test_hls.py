"""HLS written by the compress encode itself (tee: one encode, the compressed MP4 and CMAF HLS),
on real ffmpeg: 2 s fMP4 segments, an EVENT playlist while live and ENDLIST + VOD at completion,
segments that decode and together cover the duration, and every file bounded by RLIMIT_FSIZE
(-fs does not apply to tee outputs)."""

from __future__ import annotations

import pathlib

import pytest

from media_service import commands, containers
from media_service.runner import FfmpegFailed, FfmpegLimits, run_ffmpeg
from media_service.settings import PROFILES, CompressionProfile, MediaLimits
from tests import media_tools

WEBM = containers.for_original("video/webm")


@pytest.fixture(scope="module")
def recording_7s(tmp_path_factory) -> pathlib.Path:
    return media_tools.make_webm(tmp_path_factory.mktemp("media") / "screen-7s.webm", 7, size="640x360")


def tee_compress_args(source: pathlib.Path, folder: pathlib.Path) -> list[str]:
    """The compress encode of source into folder/compressed.mp4, its HLS written into folder."""
    return commands.compress_args(
        media_tools.FFMPEG,
        str(source),
        WEBM,
        str(folder / "compressed.mp4"),
        CompressionProfile(),
        True,
        True,
        0,
        (640, 360),
        hls_folder=str(folder),
    )


def check_hls(folder: pathlib.Path, source_seconds: float) -> commands.Playlist:
    playlist = commands.parse_playlist((folder / commands.HLS_PLAYLIST).read_text())
    assert playlist.ended and playlist.init == commands.HLS_INIT
    names = [name for _, name in playlist.segments]
    assert names == [commands.hls_segment_name(n) for n in range(len(names))]
    assert all(abs(d - commands.HLS_SEGMENT_SECONDS) < 0.05 for d, _ in playlist.segments[:-1])
    assert abs(playlist.duration - source_seconds) <= 0.1, (playlist.duration, source_seconds)
    media_tools.check_hls_segments(folder, playlist, source_seconds, tolerance=0.15)
    assert not list(folder.glob("*.tmp"))
    return playlist


def test_the_hls_slave_is_cmaf_with_2s_segments_and_escaped_options():
    slave = commands.hls_slave("/work/a:b", live=True)
    assert "hls_segment_type=fmp4" in slave and "hls_time=2" in slave and "hls_playlist_type=event" in slave
    assert "hls_segment_filename=/work/a\\:b/hls-%05d.m4s" in slave and slave.endswith("]/work/a:b/hls.m3u8")
    assert "hls_playlist_type=vod" in commands.hls_slave("/w", live=False)
    args = commands.compress_args(
        "ffmpeg",
        "in.webm",
        WEBM,
        "/w/compressed.mp4",
        CompressionProfile(),
        True,
        True,
        10**6,
        (640, 360),
        hls_folder="/w",
    )
    assert args[args.index("-f", args.index("-i")) + 1] == "tee" and "-fs" not in args
    assert args[args.index("-force_key_frames") + 1] == "expr:gte(t,n_forced*2)"
    assert args[-1].startswith("[f=mp4:movflags=+faststart]/w/compressed.mp4|[f=hls:")
    with pytest.raises(ValueError):
        commands.compress_args("ffmpeg", "in.webm", WEBM, "/w/c.webm", PROFILES["vp9"], True, True, 1, hls_folder="/w")


def test_finalize_playlist_turns_event_into_vod_with_endlist():
    event = (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:EVENT\n"
        '#EXT-X-MAP:URI="hls-init.mp4"\n#EXTINF:2.000000,\nhls-00000.m4s\n'
    )
    final = commands.finalize_playlist(event)
    parsed = commands.parse_playlist(final)
    assert parsed.playlist_type == "VOD" and parsed.ended and parsed.segments == [(2.0, "hls-00000.m4s")]
    assert commands.finalize_playlist(final) == final
    assert commands.parse_playlist(event).playlist_type == "EVENT" and not commands.parse_playlist(event).ended


async def test_compress_writes_the_mp4_and_vod_hls_from_one_encode(recording_7s, tmp_path):
    source_seconds = media_tools.decode_fully(recording_7s)[1]
    compressed = tmp_path / "compressed.mp4"
    args = tee_compress_args(recording_7s, tmp_path)
    assert args.count("-c:v") == 1  # one encoder
    await run_ffmpeg(args, FfmpegLimits(max_file_bytes=64 * 1024 * 1024))
    playlist = check_hls(tmp_path, source_seconds)
    assert playlist.playlist_type == "VOD"
    clean, reached, errors = media_tools.decode_fully(compressed)
    assert clean and abs(reached - source_seconds) <= 0.15, errors
    assert media_tools.top_level_boxes(compressed).index("moov") < media_tools.top_level_boxes(compressed).index("mdat")


async def test_live_encode_writes_an_event_playlist_that_ends(recording_7s, tmp_path):
    source_seconds = media_tools.decode_fully(recording_7s)[1]
    args = commands.live_compress_args(
        media_tools.FFMPEG,
        WEBM,
        str(tmp_path / "compressed.mp4"),
        CompressionProfile(),
        True,
        True,
        (640, 360),
        MediaLimits(),
        hls_folder=str(tmp_path),
    )
    await run_ffmpeg(args, FfmpegLimits(max_file_bytes=64 * 1024 * 1024), stdin_data=recording_7s.read_bytes())
    playlist = check_hls(tmp_path, source_seconds)
    assert playlist.playlist_type == "EVENT"  # as written while live; ffmpeg added ENDLIST at the end
    final = commands.parse_playlist(commands.finalize_playlist((tmp_path / commands.HLS_PLAYLIST).read_text()))
    assert final.playlist_type == "VOD" and final.ended and final.segments == playlist.segments


async def test_every_file_of_a_tee_encode_is_bounded(recording_7s, tmp_path):
    args = tee_compress_args(recording_7s, tmp_path)
    with pytest.raises(FfmpegFailed):
        await run_ffmpeg(args, FfmpegLimits(max_file_bytes=64 * 1024))
