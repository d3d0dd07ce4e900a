"""Builds the worker and pipeline from settings."""
from __future__ import annotations

import os
import socket

import grpc

from media_service.catalog_client import MediaCatalogClient
from media_service.pipeline import MediaPipeline
from media_service.settings import MediaSettings, find_ffmpeg
from media_service.worker import MediaWorker
from recorder_common.channels import open_channel
from recorder_common.storage import LocalStorage


def build_worker(settings: MediaSettings) -> tuple[MediaWorker, grpc.aio.Channel]:
    storage = LocalStorage(settings.storage_root)
    channel = open_channel(settings.catalog_target, 4 * 1024 * 1024)
    pipeline = MediaPipeline(storage, find_ffmpeg(settings.ffmpeg_binary), settings.profile,
                             settings.thumbnail, settings.step_timeout_seconds)
    worker = MediaWorker(
        MediaCatalogClient(channel, settings.catalog_deadline_seconds), pipeline, storage,
        worker_id=settings.worker_id or f"{socket.gethostname()}-{os.getpid()}",
        lease_seconds=settings.lease_seconds, max_concurrent_jobs=settings.max_concurrent_jobs,
        sweep_interval_seconds=settings.sweep_interval_seconds)
    return worker, channel
