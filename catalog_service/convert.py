"""Translation between the catalog's rows and the protobuf messages."""
from __future__ import annotations

import datetime as dt

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import inspect

from catalog_service import catalog
from catalog_service.models import Video
from recorder.v1 import common_pb2
from recorder_common.vocab import rendition_kind_enum, rendition_state_enum


def timestamp(value: dt.datetime | None) -> Timestamp:
    ts = Timestamp()
    if value is not None:
        if value.tzinfo is None:  # SQLite hands back naive datetimes; we only ever store UTC
            value = value.replace(tzinfo=dt.timezone.utc)
        ts.FromDatetime(value)
    return ts


def status_enum(name: str | None) -> int:
    return common_pb2.VideoStatus.Value(f"VIDEO_STATUS_{name}") if name else 0


def status_name(value: int) -> str:
    return common_pb2.VideoStatus.Name(value).removeprefix("VIDEO_STATUS_")


def step_enum(name: str | None) -> int:
    return common_pb2.ProcessingStep.Value(f"PROCESSING_STEP_{name}") if name else 0


def step_name(value: int) -> str | None:
    if value == 0:
        return None
    return common_pb2.ProcessingStep.Name(value).removeprefix("PROCESSING_STEP_")


def asset_kind_enum(name: str) -> int:
    return common_pb2.AssetKind.Value(f"ASSET_KIND_{name}")


def asset_kind_name(value: int) -> str:
    return common_pb2.AssetKind.Name(value).removeprefix("ASSET_KIND_")


def upload_state(state: catalog.UploadState) -> common_pb2.UploadState:
    msg = common_pb2.UploadState(
        video_id=state.video_id, status=status_enum(state.status),
        received_chunks=state.received_chunks, received_bytes=state.received_bytes,
        complete=state.complete, missing_indices=state.missing_indices,
        stored_indices=state.stored_indices)
    if state.last_index is not None:
        msg.last_index = state.last_index
    return msg


def video_message(video: Video, with_history: bool = True) -> common_pb2.Video:
    unloaded = inspect(video).unloaded  # relationships not loaded are left out, never lazy-loaded
    msg = common_pb2.Video(
        video_id=video.id, title=video.title, filename=video.filename,
        content_type=video.content_type, status=status_enum(video.status),
        current_step=step_enum(video.current_step), progress=video.progress or 0.0,
        error=video.error or "", error_step=step_enum(video.error_step),
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
            kind=asset_kind_enum(asset.kind), content_type=asset.content_type, size_bytes=asset.size,
            path=asset.path, created_at=timestamp(asset.created_at)))
    if "renditions" not in unloaded:
        assets = {} if "assets" in unloaded else {a.kind: a for a in video.assets}
        for row in video.renditions:
            asset = assets.get(row.kind) if row.state == "READY" else None
            msg.renditions.append(rendition_message(
                row.kind, row.state, row.progress, row.error,
                asset and (asset.path, asset.content_type, asset.size, asset.created_at)))
    if with_history:
        for event in [] if "events" in unloaded else video.events:
            msg.history.append(common_pb2.StatusEvent(
                status=status_enum(event.status), step=step_enum(event.step), progress=event.progress,
                message=event.message, at=timestamp(event.at)))
    return msg


def rendition_message(kind: str, state: str, progress: float | None, error: str | None,
                      asset: tuple[str, str, int, dt.datetime] | None) -> common_pb2.Rendition:
    """One rendition; asset is (path, content_type, size, created_at) of its READY output."""
    msg = common_pb2.Rendition(kind=rendition_kind_enum(kind), state=rendition_state_enum(state),
                               progress=progress or 0.0, error=error or "")
    if asset is not None and asset[0]:
        path, content_type, size, created = asset
        msg.asset.CopyFrom(common_pb2.Asset(kind=asset_kind_enum(kind), content_type=content_type or "",
                                            size_bytes=size or 0, path=path, created_at=timestamp(created)))
    return msg
