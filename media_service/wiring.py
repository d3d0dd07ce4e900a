"""Builds the worker, the on-demand outputs and their catalog client from settings."""

from __future__ import annotations

import dataclasses
import os
import socket

import grpc

from media_service.admission import MemoryBudget, split_memory_budget
from media_service.catalog_client import MediaCatalogClient
from media_service.live import LiveEncoders, LiveSessions
from media_service.live_thumbnail import LiveThumbnails
from media_service.renditions import CompressedEncode, Renditions, RenditionWorker, StoryboardEncode, StoryboardWorker
from media_service.scheduler import EncodeCapacity
from media_service.ondemand import OnDemandMedia
from media_service.pipeline import MediaPipeline
from media_service.playback import Playback, PlaybackTokens, load_or_create_key
from media_service import sandbox
from media_service.runner import ENCODE_MAX_MEMORY_BYTES, FfmpegLimits
from media_service.settings import MediaSettings, encode_cores, find_ffmpeg, memory_budget_bytes
from media_service.worker import MediaWorker
from recorder_common.auth import ServiceTokenSigner
from recorder_common.channels import open_channel
from recorder_common.defaults import MESSAGE_BYTES
from media_service.files import MediaFiles, workspaces_for
from recorder_common.errors import NotFound
from recorder_common.storage import open_storage

# An upload a live session may go on following; anything else (deleted, aborted, failed) stops it.
LIVE_STATUSES = ("UPLOADING", "UPLOADED", "PROCESSING")


@dataclasses.dataclass
class MediaParts:
    worker: MediaWorker
    ondemand: OnDemandMedia
    live: LiveSessions
    channel: grpc.aio.Channel
    renditions: RenditionWorker
    playback: Playback
    storyboards: StoryboardWorker | None = None

    async def close(self) -> None:
        await self.playback.stop()
        await self.live.close()
        await self.channel.close()


def build(settings: MediaSettings) -> MediaParts:
    channel = open_channel(settings.catalog_target, MESSAGE_BYTES)
    catalog = MediaCatalogClient(channel, ServiceTokenSigner(settings.auth, "media"), settings.catalog_deadline_seconds)
    store = open_storage(settings.storage)
    # In place on a local folder, in scratch folders otherwise: decided here, once.
    files = MediaFiles(store, workspaces_for(store, settings.storage.scratch_root), chunks=catalog)
    ffmpeg = find_ffmpeg(settings.ffmpeg_binary)
    # The memory budget is split in two: the cheap work that makes a recording watchable
    # (processing jobs, live remuxes: copies, probes, a thumbnail) has its own share, so it never
    # queues behind encodes for memory; encodes and on-demand work take the rest. Encodes also run
    # niced, so the cheap work and ingest get the CPU first.
    cheap_share, encode_share = split_memory_budget(memory_budget_bytes(settings), settings.watchable_memory_share)
    limits = FfmpegLimits(
        timeout_seconds=settings.step_timeout_seconds,
        max_memory_bytes=settings.ffmpeg_max_memory_mb * 1024 * 1024,
        cpu_seconds=settings.step_cpu_cap_seconds,
        floor_seconds=settings.step_floor_seconds,
        seconds_per_media_second=settings.step_seconds_per_media_second,
        memory=MemoryBudget(cheap_share),
        sandbox=sandbox.detect(settings.ffmpeg_sandbox),
    )
    encode_limits = dataclasses.replace(
        limits,
        memory=MemoryBudget(encode_share),
        niceness=settings.encode_niceness,
        idle_class=settings.encode_scheduling == "idle",
        max_memory_bytes=min(limits.max_memory_bytes or ENCODE_MAX_MEMORY_BYTES, ENCODE_MAX_MEMORY_BYTES),
    )
    media_limits = settings.media_limits

    async def still_wanted(owner_id: str, video_id: str) -> bool:
        try:
            return (await catalog.video_facts(owner_id, video_id)).status in LIVE_STATUSES
        except NotFound:
            return False

    worker_id = settings.worker_id or f"{socket.gethostname()}-{os.getpid()}"
    # One capacity for both kinds of encode: live ones while the cores allow, queued ones the rest.
    capacity = EncodeCapacity(cores=encode_cores(settings), live_cost=settings.live_encode_cost_cores)
    compressed = CompressedEncode(ffmpeg, settings.profile, media_limits)
    # Queued and live encodes of the compressed rendition share the encode, cores, limits and lease.
    encoding = (catalog, files, compressed, capacity, encode_limits, worker_id, settings.lease_seconds)
    renditions = RenditionWorker(*encoding, settings.rendition_poll_seconds)
    storyboards = StoryboardWorker(
        catalog,
        files,
        StoryboardEncode(ffmpeg, media_limits),
        EncodeCapacity(cores=settings.storyboard_cores, live_cost=0.0),
        encode_limits,
        worker_id,
        settings.lease_seconds,
        settings.rendition_poll_seconds,
    )
    encoders = LiveEncoders(
        *encoding,
        settings.live_encode_max_lag_seconds,
        settings.live_encode_lag_grace_seconds,
        on_capacity_freed=renditions.wake,
    )
    live = LiveSessions(
        files,
        ffmpeg,
        settings.profile,
        limits,
        settings.max_live_sessions,
        settings.live_idle_seconds,
        media_limits,
        max_sessions_per_user=settings.max_live_sessions_per_user,
        still_wanted=still_wanted,
        encoders=encoders,
        events=catalog,
        thumbnails=LiveThumbnails(
            ffmpeg, settings.thumbnail, limits, media_limits, first_seconds=settings.live_thumbnail_seconds
        ),
    )
    pipeline = MediaPipeline(files, ffmpeg, settings.profile, settings.thumbnail, limits, live, media_limits)
    worker = MediaWorker(
        catalog,
        pipeline,
        files,
        worker_id=worker_id,
        lease_seconds=settings.lease_seconds,
        max_concurrent_jobs=settings.max_concurrent_jobs,
        sweep_interval_seconds=settings.sweep_interval_seconds,
        renditions=Renditions(renditions, storyboards),
    )
    ondemand = OnDemandMedia(
        files,
        ffmpeg,
        catalog,
        dataclasses.replace(encode_limits, niceness=0, idle_class=False),
        max_parallel=settings.max_on_demand_jobs,
        candidate_frames=settings.thumbnail.candidate_frames,
        max_pixels=media_limits.max_video_pixels,
        max_per_user=settings.max_on_demand_per_user,
    )
    playback = Playback(
        files.store,
        catalog,
        PlaybackTokens(load_or_create_key(settings.playback_key_file)),
        url_seconds=settings.playback_url_seconds,
        share_url_seconds=settings.share_url_seconds,
        link_cache_seconds=settings.share_link_cache_seconds,
        public_base_url=settings.public_base_url,
        make_storyboard=ondemand.storyboard,
        player_script=settings.share_player_script or None,
    )
    return MediaParts(worker, ondemand, live, channel, renditions, playback, storyboards)
