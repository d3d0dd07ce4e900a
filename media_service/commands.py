"""ffmpeg command lines, built by pure functions (ffmpeg-python) so tests can check them.

Every input is opened with its demuxer forced (the container sniffed from its first bytes, see
containers.py), a protocol whitelist (local files or our pipe; http(s) only for our own presigned
URLs) and a format whitelist, so no input can make ffmpeg open another file, a URL or a nested
format (HLS, DASH and ffconcat playlists are formats ffmpeg would otherwise guess). Decoders get a
frame-size bound, and every output a size bound (-fs).
"""

from __future__ import annotations

import dataclasses
import math

import ffmpeg

from media_service.containers import Container
from media_service.settings import CompressionProfile, MediaLimits, ThumbnailSettings

# Before every run: quiet except for errors, never read stdin, overwrite our own temp outputs.
GLOBAL_ARGS = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
PROGRESS_ARGS = ["-progress", "pipe:1", "-nostats"]


def _compile(stream, binary: str, progress: bool = False) -> list[str]:
    args = ffmpeg.compile(stream, cmd=binary)
    return [args[0], *GLOBAL_ARGS, *(PROGRESS_ARGS if progress else []), *args[1:]]


# Protocols an input may use: a local file (or our stdin pipe), and for our own presigned
# object-store URLs http(s) over tcp/tls. Nothing else (no crypto, data, concat, subfile, ...).
LOCAL_PROTOCOLS = "file,pipe"
URL_PROTOCOLS = "http,https,tcp,tls"
# For an input read over HTTP (a presigned object-store URL): reconnect after a dropped
# connection, and give up on one that stalls (microseconds) rather than wait for the run's timeout.
HTTP_INPUT_OPTIONS = {
    "reconnect": 1,
    "reconnect_on_network_error": 1,
    "reconnect_delay_max": 5,
    "rw_timeout": 30_000_000,
}


def is_url(src: str) -> bool:
    return src.startswith(("http://", "https://"))


def input_options(src: str, container: Container, max_pixels: int = 0) -> dict:
    """The options in front of `-i src`: forced demuxer, protocol and format whitelists, and a
    bound on decoded frame size (an 8192x8192 frame mid-stream fails to decode instead of
    taking gigabytes)."""
    options: dict = {
        "f": container.demuxer,
        "protocol_whitelist": URL_PROTOCOLS if is_url(src) else LOCAL_PROTOCOLS,
        "format_whitelist": container.format_whitelist,
    }
    if container is Container.MP4:
        options["enable_drefs"] = 0  # data references name other files: never follow them
    if max_pixels:
        options["max_pixels"] = max_pixels
    if is_url(src):
        options.update(HTTP_INPUT_OPTIONS)
    return options


def _input(src: str, container: Container, max_pixels: int = 0, **options):
    return ffmpeg.input(src, **{**input_options(src, container, max_pixels), **options})


def _flags(options: dict) -> list[str]:
    return [item for key, value in options.items() for item in (f"-{key}", str(value))]


def probe_args(binary: str, path: str, container: Container) -> list[str]:
    """ffmpeg with an input and no output prints the input's streams and exits: a probe without
    ffprobe."""
    return [binary, "-hide_banner", "-nostdin", *_flags(input_options(path, container)), "-i", path]


def stream_extent_args(binary: str, path: str, container: Container, max_seconds: float) -> list[str]:
    """Read every packet without decoding (-c copy into the null muxer): -progress then reports
    the real last timestamp and the number of video frames, whatever the container claims. Cheap
    (no decoding), and bounded: it stops a little past max_seconds. The report goes to stderr
    (the last one is what counts), after any error lines."""
    source = _input(path, container, t=f"{max_seconds + 1:.3f}")
    args = ffmpeg.compile(source.output("-", f="null", map=0, c="copy"), cmd=binary)
    return [args[0], *GLOBAL_ARGS, "-progress", "pipe:2", "-nostats", *args[1:]]


def decode_check_args(binary: str, path: str, container: Container, max_pixels: int = 0) -> list[str]:
    """Decode every stream and throw the frames away: fails on a broken file."""
    return _compile(
        _input(path, container, max_pixels).output("-", f="null", map=0, fps_mode="vfr"), binary, progress=True
    )


def output_bytes_bound(duration_seconds: float | None, bits_per_second: float, floor_bytes: int) -> int:
    """-fs for an output: what duration_seconds at bits_per_second make, doubled for headroom,
    never below floor_bytes (headers, one keyframe, a short clip)."""
    duration = max(duration_seconds or 0.0, 0.0)
    return int(max(duration * bits_per_second / 8 * 2, 0) + floor_bytes)


def _remux_output(source, dst: str, muxer: str, max_bytes: int):
    options: dict = {"c": "copy", "map": 0, "f": muxer, "fs": max_bytes}
    if muxer == "mp4":
        options["movflags"] = "+faststart"
    return source.output(dst, **options)


def remux_bytes_bound(source_bytes: int) -> int:
    """A copy of the streams is about the source's size: a new index, cues and headers on top."""
    return source_bytes + source_bytes // 8 + 4 * 1024 * 1024


def remux_args(binary: str, src: str, container: Container, dst: str, muxer: str, max_bytes: int) -> list[str]:
    """Copy the streams into a fresh container: MediaRecorder's WebM has no duration and no cues,
    and writing it again to a seekable file adds both. No re-encoding. -progress reports the
    last timestamp copied (the duration the stream really has)."""
    return _compile(_remux_output(_input(src, container), dst, muxer, max_bytes), binary, progress=True)


def even_scale_filter(max_height: int) -> str:
    """Scale down to max_height (never up), keeping the aspect ratio and even dimensions (H.264
    4:2:0 needs them; a shared window can have any size)."""
    return f"scale=w='trunc(iw*min(1,{max_height}/ih)/2)*2':h='trunc(min(ih,{max_height})/2)*2'"


def output_size(width: int, height: int, max_height: int) -> tuple[int, int]:
    """The encoded size for a source whose (first) frames are width x height: scaled down to
    max_height if taller, never up, both sides even."""
    scale = min(1.0, max_height / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def fixed_box_filter(width: int, height: int) -> str:
    """Every frame fitted into one width x height box (letterboxed, aspect kept). A screen
    recording changes resolution when the user resizes the shared window, and an encoder's size
    is fixed: without this, frames after the change would fail or be stretched."""
    return (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1"
    )


def video_filter(profile: CompressionProfile, frame_size: tuple[int, int] | None = None) -> str:
    if frame_size and frame_size[0] > 0 and frame_size[1] > 0:
        chain = [fixed_box_filter(*output_size(*frame_size, profile.max_height))]
    else:
        chain = [even_scale_filter(profile.max_height)]
    if profile.fps:
        chain.append(f"fps={profile.fps:g}")
    return ",".join(chain)


def compressed_bytes_bound(duration_seconds: float | None, limits: MediaLimits) -> int:
    return output_bytes_bound(duration_seconds, limits.max_output_bits_per_second, 16 * 1024 * 1024)


def _compress_output(
    source,
    dst: str,
    profile: CompressionProfile,
    has_video: bool,
    has_audio: bool,
    frame_size: tuple[int, int] | None,
    max_bytes: int,
    threads: int = 0,
    hls_folder: str | None = None,
    live: bool = False,
):
    streams = []
    options: dict = {"f": profile.container, "fs": max_bytes}
    if threads:
        options["threads"] = threads
    if profile.container == "mp4":
        options["movflags"] = "+faststart"
    if has_video:
        streams.append(source["v:0"])
        options.update(
            {
                "c:v": profile.video_codec,
                **dict(profile.video_options),
                "pix_fmt": "yuv420p",
                "vf": video_filter(profile, frame_size),
            }
        )
        if not profile.fps:
            # Screen capture is variable frame rate; forcing a constant rate duplicates frames.
            options["fps_mode"] = "passthrough"
    if has_audio:
        streams.append(source["a:0"])
        options.update({"c:a": profile.audio_codec, "b:a": profile.audio_bitrate})
    if hls_folder is not None:
        if not hls_supported(profile):
            raise ValueError(f"HLS is written for the MP4 profiles, not {profile.name}")
        return _with_hls(streams, dst, options, hls_folder, live)
    return ffmpeg.output(*streams, dst, **options)


# ---- HLS: the compressed encode also written as CMAF (fMP4) HLS ------------------------------
HLS_SEGMENT_SECONDS = 2
HLS_PLAYLIST = "hls.m3u8"
HLS_INIT = "hls-init.mp4"
HLS_SEGMENT_PATTERN = "hls-%05d.m4s"
# Names in storage are flat (the video's folder) and fixed: the playback server's allow-list.
HLS_SEGMENT_NAME = r"hls-[0-9]{5}\.m4s"


def hls_segment_name(number: int) -> str:
    return HLS_SEGMENT_PATTERN % number


def hls_supported(profile: CompressionProfile) -> bool:
    """fMP4 HLS carries the MP4 profiles (H.264/AAC), which every HLS player decodes."""
    return profile.container == "mp4"


def _tee_escape(value: str) -> str:
    # The tee muxer's slave options are key=value pairs separated by ':' inside [...].
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("|", "\\|").replace("]", "\\]")


def hls_slave(folder: str, live: bool) -> str:
    """The tee slave writing the HLS: 2 s CMAF segments (keyframes forced every 2 s by the
    encode), an init segment, and a playlist that is EVENT while the recording is live (it only
    grows) and VOD when made from a finished file; ffmpeg writes ENDLIST when its input ends.
    temp_file: a segment appears under its name only once complete, so nothing half-written is
    ever served."""
    options = {
        "f": "hls",
        "hls_time": HLS_SEGMENT_SECONDS,
        "hls_segment_type": "fmp4",
        "hls_fmp4_init_filename": HLS_INIT,
        "hls_list_size": 0,
        "hls_segment_filename": f"{folder}/{HLS_SEGMENT_PATTERN}",
        "hls_playlist_type": "event" if live else "vod",
        "hls_flags": "independent_segments+temp_file",
    }
    spec = ":".join(f"{key}={_tee_escape(str(value))}" for key, value in options.items())
    return f"[{spec}]{folder}/{HLS_PLAYLIST}"


def _with_hls(output_streams, dst: str, options: dict, hls_folder: str, live: bool):
    """One encode, two muxers (tee): the compressed file as before and the HLS. -fs does not
    apply to tee outputs, so the caller bounds every file with FfmpegLimits.max_file_bytes."""
    options = dict(options)
    container = options.pop("f")
    options.pop("fs", None)
    movflags = options.pop("movflags", None)
    main = f"[f={container}{':movflags=' + _tee_escape(movflags) if movflags else ''}]{dst}"
    options["force_key_frames"] = f"expr:gte(t,n_forced*{HLS_SEGMENT_SECONDS})"
    return ffmpeg.output(*output_streams, f"{main}|{hls_slave(hls_folder, live)}", f="tee", **options)


def finalize_playlist(text: str) -> str:
    """The playlist of a finished recording: VOD, with ENDLIST (a live EVENT playlist becomes the
    same VOD playlist a batch encode writes)."""
    lines = [line for line in text.strip().splitlines() if line.strip() != "#EXT-X-ENDLIST"]
    lines = ["#EXT-X-PLAYLIST-TYPE:VOD" if line.startswith("#EXT-X-PLAYLIST-TYPE:") else line for line in lines]
    if not any(line.startswith("#EXT-X-PLAYLIST-TYPE:") for line in lines):
        lines.insert(1, "#EXT-X-PLAYLIST-TYPE:VOD")
    return "\n".join(lines + ["#EXT-X-ENDLIST"]) + "\n"


@dataclasses.dataclass(frozen=True)
class Playlist:
    playlist_type: str  # EVENT, VOD or "" (a live sliding window; never ours)
    ended: bool
    init: str | None
    segments: list[tuple[float, str]]  # (duration, name)

    @property
    def duration(self) -> float:
        return sum(d for d, _ in self.segments)


def parse_playlist(text: str) -> Playlist:
    kind, ended, init, segments, pending = "", False, None, [], None
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("#EXT-X-PLAYLIST-TYPE:"):
            kind = line.split(":", 1)[1]
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line.startswith("#EXT-X-MAP:"):
            init = line.split('URI="', 1)[1].split('"', 1)[0]
        elif line.startswith("#EXTINF:"):
            pending = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line and not line.startswith("#") and pending is not None:
            segments.append((pending, line))
            pending = None
    return Playlist(kind, ended, init, segments)


def compress_args(
    binary: str,
    src: str,
    container: Container,
    dst: str,
    profile: CompressionProfile,
    has_video: bool,
    has_audio: bool,
    max_bytes: int,
    frame_size: tuple[int, int] | None = None,
    max_pixels: int = 0,
    threads: int = 0,
    hls_folder: str | None = None,
) -> list[str]:
    """The compressed rendition's encode (threads: 0 lets the encoder choose). hls_folder: the
    same encode also goes out as VOD HLS there (see hls_slave); the run must then be bounded by
    FfmpegLimits.max_file_bytes instead of -fs."""
    return _compile(
        _compress_output(
            _input(src, container, max_pixels),
            dst,
            profile,
            has_video,
            has_audio,
            frame_size,
            max_bytes,
            threads,
            hls_folder,
        ),
        binary,
        progress=True,
    )


def live_remux_args(binary: str, container: Container, original: str, muxer: str, limits: MediaLimits) -> list[str]:
    """The seekable original of a recording that is still arriving on stdin (the same copy as
    remux_args). The length is not known yet: the output is bounded for the longest recording
    allowed. -progress reports how far the input has arrived (a copy keeps up with it)."""
    source = _input("pipe:0", container, limits.max_video_pixels)
    bound = output_bytes_bound(limits.max_recording_seconds, limits.max_output_bits_per_second, 16 * 1024 * 1024)
    return _compile(_remux_output(source, original, muxer, bound), binary, progress=True)


def live_compress_args(
    binary: str,
    container: Container,
    compressed: str,
    profile: CompressionProfile,
    has_video: bool,
    has_audio: bool,
    frame_size: tuple[int, int] | None,
    limits: MediaLimits,
    hls_folder: str | None = None,
) -> list[str]:
    """The compressed rendition's live encode from stdin (the same encode as compress_args),
    bounded for the longest recording allowed. hls_folder: the encode also goes out as a growing
    EVENT playlist there, for viewers while it records."""
    source = _input("pipe:0", container, limits.max_video_pixels)
    return _compile(
        _compress_output(
            source,
            compressed,
            profile,
            has_video,
            has_audio,
            frame_size,
            compressed_bytes_bound(limits.max_recording_seconds, limits),
            hls_folder=hls_folder,
            live=True,
        ),
        binary,
        progress=True,
    )


def thumbnail_time(duration: float | None, candidate_frames: int, fps: float = 30.0) -> float:
    """A quarter in skips intros, fades and the black first frame; short clips start at 0 so the
    filter still sees frames."""
    if not duration or duration < 2.0:
        return 0.0
    window = candidate_frames / max(fps, 1.0)
    return max(0.0, min(duration * 0.25, duration - window - 0.5))


# ---- on-demand outputs ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class AudioOutput:
    """What one audio extraction writes: the file name and type, and ffmpeg's output options."""

    file_name: str
    content_type: str
    options: tuple[tuple[str, str | int], ...]


# The source's own codec -> (muxer, extension, content type) that holds it without re-encoding.
AUDIO_COPY_CONTAINERS = {
    "opus": ("opus", "opus", "audio/ogg; codecs=opus"),
    "vorbis": ("ogg", "ogg", "audio/ogg; codecs=vorbis"),
    "aac": ("ipod", "m4a", "audio/mp4"),
    "mp3": ("mp3", "mp3", "audio/mpeg"),
    "flac": ("flac", "flac", "audio/flac"),
}


def audio_output(
    audio_format: str, source_codec: str, bitrate_kbps: int = 0, mp3_quality: int | None = None
) -> AudioOutput:
    """audio_format is AAC, MP3, FLAC or ORIGINAL (a copy of the source's stream)."""
    if audio_format == "AAC":
        return AudioOutput(
            "audio.m4a",
            "audio/mp4",
            (("c:a", "aac"), ("b:a", f"{bitrate_kbps or 128}k"), ("f", "ipod"), ("movflags", "+faststart")),
        )
    if audio_format == "MP3":
        rate = (
            (("q:a", mp3_quality if mp3_quality is not None else 2),)
            if not bitrate_kbps
            else (("b:a", f"{bitrate_kbps}k"),)
        )
        return AudioOutput("audio.mp3", "audio/mpeg", (("c:a", "libmp3lame"), *rate, ("f", "mp3")))
    if audio_format == "FLAC":
        return AudioOutput("audio.flac", "audio/flac", (("c:a", "flac"), ("f", "flac")))
    if audio_format == "ORIGINAL":
        muxer, extension, content_type = AUDIO_COPY_CONTAINERS.get(
            source_codec, ("matroska", "mka", "audio/x-matroska")
        )
        return AudioOutput(f"audio-original.{extension}", content_type, (("c:a", "copy"), ("f", muxer)))
    raise ValueError(f"unknown audio format {audio_format!r}")


# Audio outputs: FLAC of 48 kHz stereo is about 1.5 Mbit/s, a copied PCM track up to ~4.6.
AUDIO_OUTPUT_BITS_PER_SECOND = 5_000_000
IMAGE_OUTPUT_MAX_BYTES = 32 * 1024 * 1024  # a 1920-wide JPEG or WebP is a few MiB at most


def extract_audio_args(
    binary: str, src: str, container: Container, dst: str, output: AudioOutput, duration_seconds: float | None
) -> list[str]:
    """The first audio stream only, no video, no subtitles or data."""
    audio = _input(src, container)["a:0"]
    max_bytes = output_bytes_bound(duration_seconds, AUDIO_OUTPUT_BITS_PER_SECOND, 4 * 1024 * 1024)
    return _compile(
        ffmpeg.output(audio, dst, vn=None, sn=None, dn=None, fs=max_bytes, **dict(output.options)),
        binary,
        progress=True,
    )


IMAGE_CODECS = {"JPEG": ("mjpeg", "image2", "jpg", "image/jpeg"), "WEBP": ("libwebp", "webp", "webp", "image/webp")}


def still_args(
    binary: str,
    src: str,
    container: Container,
    dst: str,
    at_seconds: float,
    width: int,
    image_format: str,
    representative: bool,
    candidate_frames: int = 30,
    max_pixels: int = 0,
) -> list[str]:
    """One frame as JPEG or WebP, `width` wide (never wider than the video). representative=True
    lets the thumbnail filter pick the most typical of a few dozen frames from at_seconds on;
    otherwise the frame at at_seconds exactly (accurate seek: decode from the keyframe before)."""
    codec, muxer, _, _ = IMAGE_CODECS[image_format]
    source = _input(src, container, max_pixels, ss=f"{max(at_seconds, 0.0):.3f}")
    video = source.video
    if representative:
        video = video.filter("thumbnail", n=candidate_frames)
    video = video.filter("scale", w=f"min({width},iw)", h=-2)
    quality = {"q:v": 3} if codec == "mjpeg" else {"quality": 85}
    return _compile(
        ffmpeg.output(video, dst, vframes=1, f=muxer, update=1, c=codec, fs=IMAGE_OUTPUT_MAX_BYTES, **quality), binary
    )


def thumbnail_args(
    binary: str,
    src: str,
    container: Container,
    dst: str,
    at_seconds: float,
    thumbnail: ThumbnailSettings,
    max_pixels: int,
) -> list[str]:
    """The recording's own thumbnail, made at stop (MediaPipeline.make_thumbnail) and while it
    arrives (media_service/live_thumbnail.py) by this one command: a JPEG of the most typical of
    thumbnail.candidate_frames frames from at_seconds on, thumbnail.width wide."""
    return still_args(
        binary,
        src,
        container,
        dst,
        at_seconds,
        thumbnail.width,
        "JPEG",
        representative=True,
        candidate_frames=thumbnail.candidate_frames,
        max_pixels=max_pixels,
    )


def preview_args(
    binary: str,
    src: str,
    container: Container,
    dst: str,
    start: float,
    seconds: float,
    width: int,
    fps: int,
    image_format: str,
    max_bytes: int,
    max_pixels: int = 0,
) -> list[str]:
    """A short looping animation. GIF gets its own palette (a fixed one bands badly on screen
    content); -fs bounds the file size whatever the content."""
    source = _input(src, container, max_pixels, ss=f"{max(start, 0.0):.3f}", t=f"{seconds:.3f}")
    frames = source.video.filter("fps", fps=fps).filter("scale", w=f"min({width},iw)", h=-2, flags="lanczos")
    if image_format == "GIF":
        split = frames.split()
        palette = split[0].filter("palettegen", max_colors=128, stats_mode="diff")
        frames = ffmpeg.filter([split[1], palette], "paletteuse", dither="bayer", bayer_scale=3)
        return _compile(ffmpeg.output(frames, dst, f="gif", loop=0, fs=max_bytes), binary, progress=True)
    return _compile(
        ffmpeg.output(frames, dst, f="webp", c="libwebp_anim", loop=0, lossless=0, quality=60, fs=max_bytes),
        binary,
        progress=True,
    )


# ---- storyboard (scrubbing previews) -----------------------------------------------------------
STORYBOARD_TILE_WIDTH = 160
STORYBOARD_COLUMNS = 10
STORYBOARD_MAX_TILES = 100
STORYBOARD_MIN_INTERVAL_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class StoryboardLayout:
    """One small frame every interval seconds, in a grid of columns x rows tiles of one JPEG."""

    interval: float
    count: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int


def storyboard_layout(duration: float, width: int, height: int) -> StoryboardLayout:
    """A frame every 2 s, or fewer for long recordings (at most 100 tiles: a 10x10 sheet of
    160-pixel frames is about 1600x900, a few hundred KiB)."""
    interval = max(STORYBOARD_MIN_INTERVAL_SECONDS, duration / STORYBOARD_MAX_TILES)
    # A frame at each interval mark short of the last quarter second (the last cue runs to the end).
    count = max(1, min(STORYBOARD_MAX_TILES, math.floor(max(duration - 0.25, 0.0) / interval) + 1))
    tile_width = min(STORYBOARD_TILE_WIDTH, width) if width else STORYBOARD_TILE_WIDTH
    tile_height = max(2, round(tile_width * height / width / 2) * 2) if width and height else 90
    columns = min(STORYBOARD_COLUMNS, count)
    return StoryboardLayout(interval, count, columns, math.ceil(count / columns), tile_width, tile_height)


def storyboard_args(
    binary: str, src: str, container: Container, dst: str, layout: StoryboardLayout, max_pixels: int = 0
) -> list[str]:
    """The sprite sheet: select keeps the first frame at or after each interval mark (k x interval
    for the k-th tile), each is scaled to a tile, and tile lays them out; one JPEG comes out."""
    source = _input(src, container, max_pixels)
    frames = (
        source.video.filter("select", f"gte(t,selected_n*{layout.interval:.6f})")
        .filter("scale", w=layout.tile_width, h=layout.tile_height)
        .filter("tile", layout=f"{layout.columns}x{layout.rows}", nb_frames=layout.count)
    )
    return _compile(
        ffmpeg.output(frames, dst, vframes=1, f="mjpeg", c="mjpeg", update=1, fs=IMAGE_OUTPUT_MAX_BYTES, **{"q:v": 5}),
        binary,
        progress=True,
    )


def _vtt_time(seconds: float) -> str:
    millis = int(round(seconds * 1000))
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


def storyboard_vtt(layout: StoryboardLayout, duration: float, image_name: str = "storyboard.jpg") -> str:
    """WebVTT cues with media-fragment #xywh into the sprite (as Mux serves them); the image is
    named relative to the VTT, so it is fetched under the same playback token."""
    lines = ["WEBVTT", ""]
    for k in range(layout.count):
        start = k * layout.interval
        end = (k + 1) * layout.interval
        if k == layout.count - 1 and duration > start:
            end = duration
        x, y = (k % layout.columns) * layout.tile_width, (k // layout.columns) * layout.tile_height
        lines += [
            f"{_vtt_time(start)} --> {_vtt_time(end)}",
            f"{image_name}#xywh={x},{y},{layout.tile_width},{layout.tile_height}",
            "",
        ]
    return "\n".join(lines)
