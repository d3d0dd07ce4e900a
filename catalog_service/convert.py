"""Translation between the catalog's rows and the protobuf messages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import inspect

from catalog_service.events import DELIVERY_STATES, body
from catalog_service.models import FeedEvent, Video, WebhookDelivery, as_utc
from catalog_service.watch_hub import VideoSnapshot
from recorder.v1 import catalog_pb2, common_pb2
from recorder_common.messages import media_info
from recorder_common.vocab import AssetKind, Step, VideoStatus, rendition_kind_enum, rendition_state_enum


def timestamp(value: dt.datetime | None) -> Timestamp:
    ts = Timestamp()
    if value is not None:
        ts.FromDatetime(as_utc(value))
    return ts


def video_message(video: Video, with_history: bool = True) -> common_pb2.Video:
    unloaded = inspect(video).unloaded  # relationships not loaded are left out, never lazy-loaded
    msg = common_pb2.Video(
        video_id=video.id,
        title=video.title,
        filename=video.filename,
        content_type=video.content_type,
        current_step=Step.proto_of(video.current_step),
        expected_size_bytes=video.expected_size or 0,
        received_bytes=video.received_bytes,
        received_chunks=video.received_chunks,
        media=media_info(video),
        created_at=timestamp(video.created_at),
        updated_at=timestamp(video.updated_at),
        **_processing_fields(video),
    )
    if video.last_index is not None:
        msg.last_index = video.last_index
    for asset in [] if "assets" in unloaded else video.assets:
        msg.assets.append(
            common_pb2.Asset(
                kind=AssetKind.proto_of(asset.kind),
                content_type=asset.content_type,
                size_bytes=asset.size,
                path=asset.path,
                created_at=timestamp(asset.created_at),
            )
        )
    if "renditions" not in unloaded:
        assets = {} if "assets" in unloaded else {a.kind: a for a in video.assets}
        for row in video.renditions:
            asset = assets.get(row.kind) if row.state == "READY" else None
            msg.renditions.append(
                rendition_message(
                    row.kind,
                    row.state,
                    row.progress,
                    row.error,
                    asset and (asset.path, asset.content_type, asset.size, asset.created_at),
                )
            )
    if with_history:
        for event in [] if "events" in unloaded else video.events:
            msg.history.append(
                common_pb2.StatusEvent(
                    status=VideoStatus.proto_of(event.status),
                    step=Step.proto_of(event.step),
                    progress=event.progress,
                    message=event.message,
                    at=timestamp(event.at),
                )
            )
    return msg


def video_update(video: VideoSnapshot) -> catalog_pb2.VideoUpdate:
    """One state of a watched video (WatchVideo)."""
    return catalog_pb2.VideoUpdate(
        video_id=video.id,
        step=Step.proto_of(video.current_step),
        at=timestamp(video.updated_at),
        renditions=[
            rendition_message(
                r.kind,
                r.state,
                r.progress,
                r.error,
                (r.asset_path, r.asset_content_type, r.asset_size, r.asset_created_at) if r.asset_path else None,
            )
            for r in video.renditions
        ],
        **_processing_fields(video),
    )


def _processing_fields(video: Video | VideoSnapshot) -> dict[str, Any]:
    """Where a video's processing stands, as a Video and a VideoUpdate both carry it (each names
    the current step its own way)."""
    return dict(
        status=VideoStatus.proto_of(video.status),
        progress=video.progress or 0.0,
        error=video.error or "",
        error_step=Step.proto_of(video.error_step),
    )


def feed_event(row: FeedEvent) -> catalog_pb2.FeedEvent:
    fields = body(row)
    return catalog_pb2.FeedEvent(
        cursor=row.cursor,
        id=row.event_id,
        type=row.type,
        video_id=row.video_id,
        owner_id=row.owner_id,
        time=timestamp(row.at),
        error=fields.get("error", ""),
        rendition=rendition_kind_enum(fields["rendition"]) if fields.get("rendition") else 0,
        link_id=fields.get("link_id", ""),
        assets=[
            common_pb2.Asset(
                kind=AssetKind.proto_of(a["kind"]), content_type=a["content_type"], size_bytes=a["size_bytes"]
            )
            for a in fields.get("assets", [])
        ],
    )


def delivery_state_name(value: int) -> str | None:
    """The stored state of a WebhookDeliveryState (None for UNSPECIFIED: every state)."""
    if value == 0:
        return None
    name = catalog_pb2.WebhookDeliveryState.Name(value).removeprefix("WEBHOOK_DELIVERY_STATE_").lower()
    assert name in DELIVERY_STATES
    return name


def webhook_delivery(row: WebhookDelivery) -> catalog_pb2.WebhookDelivery:
    msg = catalog_pb2.WebhookDelivery(
        id=row.id,
        event_id=row.event_id,
        event_cursor=row.event_cursor,
        endpoint=row.endpoint,
        state=catalog_pb2.WebhookDeliveryState.Value(f"WEBHOOK_DELIVERY_STATE_{row.state.upper()}"),
        attempts=row.attempts,
        next_attempt_at=timestamp(row.next_attempt_at),
        last_status_code=row.last_status_code or 0,
        last_error=row.last_error or "",
        created_at=timestamp(row.created_at),
    )
    if row.finished_at is not None:
        msg.finished_at.CopyFrom(timestamp(row.finished_at))
    return msg


def rendition_message(
    kind: str, state: str, progress: float | None, error: str | None, asset: tuple[str, str, int, dt.datetime] | None
) -> common_pb2.Rendition:
    """One rendition; asset is (path, content_type, size, created_at) of its READY output."""
    msg = common_pb2.Rendition(
        kind=rendition_kind_enum(kind), state=rendition_state_enum(state), progress=progress or 0.0, error=error or ""
    )
    if asset is not None and asset[0]:
        path, content_type, size, created = asset
        msg.asset.CopyFrom(
            common_pb2.Asset(
                kind=AssetKind.proto_of(kind),
                content_type=content_type or "",
                size_bytes=size or 0,
                path=path,
                created_at=timestamp(created),
            )
        )
    return msg
