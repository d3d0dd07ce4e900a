"""Builds the worker, the on-demand outputs and their catalog client from settings."""
from __future__ import annotations

import dataclasses
import os
import socket

import grpc

from media_service.catalog_client import MediaCatalogClient
from media_service.live import LiveSessions
from media_service.ondemand import OnDemandMedia
from media_service.pipeline import MediaPipeline
from media_service import sandbox
from media_service.runner import FfmpegLimits
from media_service.settings import MediaSettings, find_ffmpeg
from media_service.worker import MediaWorker
from recorder_common.auth import ServiceTokenSigner
from recorder_common.channels import open_channel
from media_service.files import MediaFiles
from recorder_common.objectstore import open_storage


@dataclasses.dataclass
class MediaParts:
    worker: MediaWorker
    ondemand: OnDemandMedia
    live: LiveSessions
    channel: grpc.aio.Channel

    async def close(self) -> None:
        await self.live.close()
        await self.channel.close()


def build(settings: MediaSettings) -> MediaParts:
    channel = open_channel(settings.catalog_target, 4 * 1024 * 1024)
    catalog = MediaCatalogClient(channel, ServiceTokenSigner(settings.auth, "media"),
                                 settings.catalog_deadline_seconds)
    files = MediaFiles(open_storage(settings.storage), settings.storage.scratch_root, chunks=catalog)
    ffmpeg = find_ffmpeg(settings.ffmpeg_binary)
    limits = FfmpegLimits(settings.step_timeout_seconds, settings.ffmpeg_max_memory_mb * 1024 * 1024,
                          sandbox=sandbox.detect(settings.ffmpeg_sandbox))
    media_limits = settings.media_limits
    live = LiveSessions(files, ffmpeg, settings.profile, limits, settings.max_live_sessions,
                        settings.live_idle_seconds, media_limits)
    pipeline = MediaPipeline(files, ffmpeg, settings.profile, settings.thumbnail, limits, live, media_limits)
    worker = MediaWorker(
        catalog, pipeline, files,
        worker_id=settings.worker_id or f"{socket.gethostname()}-{os.getpid()}",
        lease_seconds=settings.lease_seconds, max_concurrent_jobs=settings.max_concurrent_jobs,
        sweep_interval_seconds=settings.sweep_interval_seconds)
    ondemand = OnDemandMedia(files, ffmpeg, catalog, limits,
                             max_parallel=settings.max_on_demand_jobs,
                             candidate_frames=settings.thumbnail.candidate_frames,
                             max_pixels=media_limits.max_video_pixels)
    return MediaParts(worker, ondemand, live, channel)
