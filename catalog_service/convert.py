"""Translation between the catalog's rows and the protobuf messages."""
from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import inspect

from catalog_service.models import Video
from recorder.v1 import common_pb2
from recorder_common.vocab import AssetKind, Step, VideoStatus


def timestamp(value: dt.datetime | None) -> Timestamp:
    ts = Timestamp()
    if value is not None:
        if value.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
            value = value.replace(tzinfo=dt.timezone.utc)
        ts.FromDatetime(value)
    return ts


def video_message(video: Video, with_history: bool = True) -> common_pb2.Video:
    unloaded = inspect(video).unloaded  # relationships not loaded are left out, never lazy-loaded
    msg = common_pb2.Video(
        video_id=video.id, title=video.title, filename=video.filename,
        content_type=video.content_type, status=VideoStatus.proto_of(video.status),
        current_step=Step.proto_of(video.current_step), progress=video.progress or 0.0,
        error=video.error or "", error_step=Step.proto_of(video.error_step),
        expected_size_bytes=video.expected_size or 0, received_bytes=video.received_bytes,
        received_chunks=video.received_chunks,
        media=common_pb2.MediaInfo(
            duration_seconds=video.duration_seconds or 0.0, width=video.width or 0,
            height=video.height or 0, video_codec=video.video_codec or "",
            audio_codec=video.audio_codec or "", container=video.container or ""),
        created_at=timestamp(video.created_at), updated_at=timestamp(video.updated_at))
    if video.last_index is not None:
        msg.last_index = video.last_index
    for asset in [] if "assets" in unloaded else video.assets:
        msg.assets.append(common_pb2.Asset(
            kind=AssetKind.proto_of(asset.kind), content_type=asset.content_type, size_bytes=asset.size,
            path=asset.path, created_at=timestamp(asset.created_at)))
    if with_history:
        for event in [] if "events" in unloaded else video.events:
            msg.history.append(common_pb2.StatusEvent(
                status=VideoStatus.proto_of(event.status), step=Step.proto_of(event.step), progress=event.progress,
                message=event.message, at=timestamp(event.at)))
    return msg
