from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping

from recorder_common import defaults
from recorder_common.auth import AuthSettings
from recorder_common.storage import StorageSettings


@dataclasses.dataclass(frozen=True)
class CompressionProfile:
    """How the compressed copy is made. Figures for each named profile come from
    `bench/compression_profiles.py` (see the README)."""

    name: str = "h264"
    container: str = "mp4"  # mp4 or webm
    video_codec: str = "libx264"
    # Encoder options as ffmpeg flags without the dash, e.g. {"preset": "veryfast", "crf": 26}.
    video_options: tuple[tuple[str, str | int], ...] = (("preset", "veryfast"), ("crf", 26))
    audio_codec: str = "aac"
    audio_bitrate: str = "128k"
    max_height: int = 1080  # scale down to this, never up
    fps: float = 0  # 0 keeps the source's own (variable) timing; else a constant rate, when asked

    @property
    def extension(self) -> str:
        return self.container

    @property
    def content_type(self) -> str:
        return f"video/{self.container}"


# The default plays everywhere; "small" trades encode time for size; vp9 and av1 are smaller still
# at the same quality and play in every current browser (WebM with Opus).
PROFILES = {
    "h264": CompressionProfile(),
    "h264-small": CompressionProfile(
        name="h264-small", video_options=(("preset", "slow"), ("crf", 30)), audio_bitrate="96k"
    ),
    "vp9": CompressionProfile(
        name="vp9",
        container="webm",
        video_codec="libvpx-vp9",
        video_options=(("crf", 42), ("b:v", 0), ("deadline", "good"), ("cpu-used", 5), ("row-mt", 1)),
        audio_codec="libopus",
        audio_bitrate="96k",
    ),
    "av1": CompressionProfile(
        name="av1",
        container="webm",
        video_codec="libsvtav1",
        video_options=(("preset", 10), ("crf", 46)),
        audio_codec="libopus",
        audio_bitrate="96k",
    ),
}


def profile_from_env(env: Mapping[str, str]) -> CompressionProfile:
    name = env.get("COMPRESS_PROFILE", "h264")
    if name not in PROFILES:
        raise ValueError(f"COMPRESS_PROFILE must be one of {', '.join(PROFILES)}, not {name!r}")
    profile = PROFILES[name]
    options = dict(profile.video_options)
    if "COMPRESS_CRF" in env:
        options["crf"] = int(env["COMPRESS_CRF"])
    if "COMPRESS_PRESET" in env:
        options["preset"] = env["COMPRESS_PRESET"]
    return dataclasses.replace(
        profile,
        video_options=tuple(options.items()),
        max_height=int(env.get("COMPRESS_MAX_HEIGHT", profile.max_height)),
        fps=float(env.get("COMPRESS_FPS", profile.fps)),
        audio_bitrate=env.get("COMPRESS_AUDIO_BITRATE", profile.audio_bitrate),
    )


@dataclasses.dataclass(frozen=True)
class ThumbnailSettings:
    width: int = 640
    # Frames the thumbnail filter compares; it holds them all in memory, so keep this small.
    candidate_frames: int = 30


@dataclasses.dataclass(frozen=True)
class MediaLimits:
    """Bounds on what an upload may be, checked at PROBE against the stream itself (not what its
    container claims), and the output size bounds derived from them."""

    max_recording_seconds: float = 4 * 3600.0
    # Pixels in one frame: 4096x2304 (a 4K screen); an 8192x8192 stream is refused.
    max_video_pixels: int = 4096 * 2304
    # Pixels decoded in all (width x height x frames): 1080p at 60 fps for the longest recording.
    max_decoded_pixels: int = 1920 * 1080 * 60 * 4 * 3600
    # For output size bounds (-fs): no output of ours needs more than this per second of media
    # (the default H.264 profile makes 1-10 Mbit/s of 1080p screen content).
    max_output_bits_per_second: float = 80_000_000

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "MediaLimits":
        return cls(**defaults.env_fields(env, cls))


@dataclasses.dataclass(frozen=True)
class MediaSettings:
    storage: StorageSettings = StorageSettings()
    host: str = defaults.HOST
    port: int = defaults.MEDIA_PORT
    catalog_target: str = defaults.CATALOG_TARGET
    catalog_deadline_seconds: float = 10.0
    ffmpeg_binary: str = ""
    # Each ffmpeg run gets wall and CPU time in proportion to its media's duration
    # (step_seconds_per_media_second each second, at least step_floor_seconds); these cap it.
    # A run past its bound is stopped and the step fails.
    step_timeout_seconds: float = 3600.0
    step_cpu_cap_seconds: float = 7200.0
    step_seconds_per_media_second: float = 20.0
    step_floor_seconds: float = 60.0
    # Per ffmpeg run (RLIMIT_DATA); 1080p x264 needs a few hundred MiB.
    ffmpeg_max_memory_mb: int = 4096
    # What all concurrent ffmpegs of this process may be given together (each reserves its
    # ffmpeg_max_memory_mb first, and waits while that would overcommit); 0: half the machine's RAM.
    ffmpeg_memory_budget_mb: int = 0
    # auto: confine every ffmpeg (no network for local inputs, no capabilities, Landlock: its job's
    # folder only) when this machine can, else log why not and run it plainly; require: refuse to
    # start without; off: never (see media_service/sandbox.py).
    ffmpeg_sandbox: str = "auto"
    media_limits: MediaLimits = MediaLimits()
    lease_seconds: int = 60
    sweep_interval_seconds: float = 30.0
    # Processing jobs at once (assemble, probe, remux, thumbnail: no encode, so cheap); waiting
    # jobs are admitted round-robin between owners (never a second job of one owner while another
    # owner's job waits).
    max_concurrent_jobs: int = 64
    # ffmpeg runs for on-demand outputs (audio, thumbnails, previews) at once, and of one user;
    # others wait (within their deadline), round-robin between users.
    max_on_demand_jobs: int = 2
    max_on_demand_per_user: int = 1
    # Uploads followed while they arrive (a remux copy each, which costs little; a live encode of
    # the compressed rendition too while encode capacity allows); 0 turns the live path off.
    # Others are processed from the stored chunks once complete.
    max_live_sessions: int = 64
    max_live_sessions_per_user: int = 8
    # Encode capacity (see media_service/scheduler.py): cores this replica's encodes may use
    # (0: os.cpu_count()), and what one real-time live encode costs (1080p x264 veryfast is about
    # 0.43 of a core here); live encodes run while cores are free, queued ones take the rest.
    # Niceness of encode ffmpegs (live and queued renditions): the cheap work that makes a
    # recording watchable, and ingest, get the CPU first.
    encode_niceness: int = 10
    # "idle": encodes also run in the SCHED_IDLE class (runner.FfmpegLimits.idle_class), so they
    # take only CPU time that ingest, the catalog and the cheap work leave; "normal": niced only.
    # Not yet the default: the full test suite ran 47 min with it against 35 min before, and
    # that has to be understood first (README, "The watchable path comes first").
    encode_scheduling: str = "normal"
    # The part of the ffmpeg memory budget kept for that cheap work (copies, probes, thumbnails).
    watchable_memory_share: float = 0.5
    encode_cores: float = 0.0
    live_encode_cost_cores: float = 0.45
    # A live encode this far (seconds of media) behind the arrived input, for this long, is
    # stopped and its rendition given back to the queue (encoded from the original after stop).
    live_encode_max_lag_seconds: float = 10.0
    live_encode_lag_grace_seconds: float = 5.0
    # How often an idle encoder asks the catalog for a queued rendition (sooner when a job of this
    # replica makes a video READY).
    rendition_poll_seconds: float = 2.0
    # A live session makes the thumbnail once this much media has arrived, and again each time it
    # doubles (media_service/live_thumbnail.py), so READY needs no decode at stop; 0: at stop only.
    live_thumbnail_seconds: float = 4.0
    # Storyboards (a low-resolution decode pass, no encode) run beside the encodes on a capacity of
    # their own: this many at once per replica, one ffmpeg thread each.
    storyboard_cores: float = 1.0
    # A live session with no new chunk for this long gives up; the batch path takes the upload.
    live_idle_seconds: float = 600.0
    worker_id: str = ""
    profile: CompressionProfile = CompressionProfile()
    thumbnail: ThumbnailSettings = ThumbnailSettings()
    log_level: str = "INFO"
    auth: AuthSettings = AuthSettings()
    # The HTTP playback server (signed /play/ URLs and /s/ share pages); 0 picks a free port.
    playback_port: int = defaults.PLAYBACK_PORT
    # HMAC key of playback tokens (made on first start when missing; share it between replicas).
    playback_key_file: str = f"{defaults.AUTH_DIR}/playback.key"
    # How long a GetPlaybackUrl URL, and a share page's file URLs, stay valid.
    playback_url_seconds: int = 3600
    share_url_seconds: int = 6 * 3600
    # How long a share link's state is remembered: the bound on how late a revocation acts.
    share_link_cache_seconds: float = 2.0
    # Prefix of the URLs GetPlaybackUrl returns (e.g. https://watch.example.com); empty: a path.
    public_base_url: str = ""
    # The share page's HLS player bundle (`cd web && npm run build:share`); empty: web/dist's.
    share_player_script: str = ""

    def __post_init__(self) -> None:
        if self.encode_scheduling not in ("idle", "normal"):
            raise ValueError(f"MEDIA_ENCODE_SCHEDULING must be idle or normal, not {self.encode_scheduling!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "MediaSettings":
        return cls(
            **defaults.service_fields(env, "MEDIA", cls),
            **defaults.env_fields(
                env, cls, defaults.variables_by_name(cls, _MEDIA_ENV_RENAMED, skip={"max_concurrent_jobs"})
            ),
            # MEDIA_MAX_CONCURRENT_JOBS is the older name.
            max_concurrent_jobs=int(
                env.get("MEDIA_MAX_JOBS", env.get("MEDIA_MAX_CONCURRENT_JOBS", cls.max_concurrent_jobs))
            ),
            storage=StorageSettings.from_env(env),
            media_limits=MediaLimits.from_env(env),
            profile=profile_from_env(env),
            thumbnail=ThumbnailSettings(
                width=int(env.get("THUMBNAIL_WIDTH", ThumbnailSettings.width)),
            ),
            auth=AuthSettings.from_env(env),
        )


# The settings whose variable is not their field's name in capitals (the one env_fields reads by
# default); max_concurrent_jobs, with its older name, and the nested settings are read above.
_MEDIA_ENV_RENAMED = {
    "step_timeout_seconds": "FFMPEG_STEP_TIMEOUT_SECONDS",
    "step_cpu_cap_seconds": "FFMPEG_STEP_CPU_CAP_SECONDS",
    "step_seconds_per_media_second": "FFMPEG_SECONDS_PER_MEDIA_SECOND",
    "step_floor_seconds": "FFMPEG_STEP_FLOOR_SECONDS",
    "lease_seconds": "PROCESSING_LEASE_SECONDS",
    "sweep_interval_seconds": "PROCESSING_SWEEP_SECONDS",
    "max_on_demand_jobs": "MEDIA_MAX_ON_DEMAND_JOBS",
    "max_on_demand_per_user": "MEDIA_MAX_ON_DEMAND_PER_USER",
    "max_live_sessions": "MEDIA_MAX_LIVE_SESSIONS",
    "max_live_sessions_per_user": "MEDIA_MAX_LIVE_SESSIONS_PER_USER",
    "live_idle_seconds": "MEDIA_LIVE_IDLE_SECONDS",
    "live_thumbnail_seconds": "MEDIA_LIVE_THUMBNAIL_SECONDS",
    "encode_cores": "MEDIA_ENCODE_CORES",
    "encode_niceness": "MEDIA_ENCODE_NICENESS",
    "encode_scheduling": "MEDIA_ENCODE_SCHEDULING",
    "watchable_memory_share": "MEDIA_WATCHABLE_MEMORY_SHARE",
    "live_encode_cost_cores": "MEDIA_LIVE_ENCODE_COST_CORES",
    "live_encode_max_lag_seconds": "MEDIA_LIVE_ENCODE_MAX_LAG_SECONDS",
    "live_encode_lag_grace_seconds": "MEDIA_LIVE_ENCODE_LAG_GRACE_SECONDS",
    "rendition_poll_seconds": "MEDIA_RENDITION_POLL_SECONDS",
    "storyboard_cores": "MEDIA_STORYBOARD_CORES",
    "worker_id": "MEDIA_WORKER_ID",
}


def encode_cores(settings: MediaSettings) -> float:
    """MEDIA_ENCODE_CORES, or every core of the machine."""
    return settings.encode_cores if settings.encode_cores > 0 else float(os.cpu_count() or 1)


def memory_budget_bytes(settings: MediaSettings) -> int:
    """FFMPEG_MEMORY_BUDGET_MB, or half the machine's physical memory."""
    if settings.ffmpeg_memory_budget_mb > 0:
        return settings.ffmpeg_memory_budget_mb * 1024 * 1024
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 1024**3


def find_ffmpeg(configured: str = "") -> str:
    """The configured binary, else the system ffmpeg, else the one the imageio-ffmpeg wheel ships
    (it has libx264, libvpx, libopus and libmp3lame, but no ffprobe: nothing here needs ffprobe)."""
    if configured:
        return configured
    system = shutil.which("ffmpeg")
    if system:
        return system
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()
