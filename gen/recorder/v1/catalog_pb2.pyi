import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from recorder.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WebhookDeliveryState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WEBHOOK_DELIVERY_STATE_UNSPECIFIED: _ClassVar[WebhookDeliveryState]
    WEBHOOK_DELIVERY_STATE_PENDING: _ClassVar[WebhookDeliveryState]
    WEBHOOK_DELIVERY_STATE_DELIVERING: _ClassVar[WebhookDeliveryState]
    WEBHOOK_DELIVERY_STATE_DELIVERED: _ClassVar[WebhookDeliveryState]
    WEBHOOK_DELIVERY_STATE_DEAD: _ClassVar[WebhookDeliveryState]

class ShareLinkState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHARE_LINK_STATE_UNSPECIFIED: _ClassVar[ShareLinkState]
    SHARE_LINK_STATE_ACTIVE: _ClassVar[ShareLinkState]
    SHARE_LINK_STATE_GONE: _ClassVar[ShareLinkState]
WEBHOOK_DELIVERY_STATE_UNSPECIFIED: WebhookDeliveryState
WEBHOOK_DELIVERY_STATE_PENDING: WebhookDeliveryState
WEBHOOK_DELIVERY_STATE_DELIVERING: WebhookDeliveryState
WEBHOOK_DELIVERY_STATE_DELIVERED: WebhookDeliveryState
WEBHOOK_DELIVERY_STATE_DEAD: WebhookDeliveryState
SHARE_LINK_STATE_UNSPECIFIED: ShareLinkState
SHARE_LINK_STATE_ACTIVE: ShareLinkState
SHARE_LINK_STATE_GONE: ShareLinkState

class GetVideoRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class GetVideoResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: _common_pb2.Video
    def __init__(self, video: _Optional[_Union[_common_pb2.Video, _Mapping]] = ...) -> None: ...

class ListVideosRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVideosResponse(_message.Message):
    __slots__ = ("videos", "next_page_token")
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[_common_pb2.Video]
    next_page_token: str
    def __init__(self, videos: _Optional[_Iterable[_Union[_common_pb2.Video, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchVideoRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class VideoUpdate(_message.Message):
    __slots__ = ("video_id", "status", "step", "progress", "error", "error_step", "at", "renditions")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_STEP_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    status: _common_pb2.VideoStatus
    step: _common_pb2.ProcessingStep
    progress: float
    error: str
    error_step: _common_pb2.ProcessingStep
    at: _timestamp_pb2.Timestamp
    renditions: _containers.RepeatedCompositeFieldContainer[_common_pb2.Rendition]
    def __init__(self, video_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.VideoStatus, str]] = ..., step: _Optional[_Union[_common_pb2.ProcessingStep, str]] = ..., progress: _Optional[float] = ..., error: _Optional[str] = ..., error_step: _Optional[_Union[_common_pb2.ProcessingStep, str]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., renditions: _Optional[_Iterable[_Union[_common_pb2.Rendition, _Mapping]]] = ...) -> None: ...

class CreateVideoRequest(_message.Message):
    __slots__ = ("title", "filename", "content_type", "expected_size_bytes")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    title: str
    filename: str
    content_type: str
    expected_size_bytes: int
    def __init__(self, title: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., expected_size_bytes: _Optional[int] = ...) -> None: ...

class CreateVideoResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: _common_pb2.Video
    def __init__(self, video: _Optional[_Union[_common_pb2.Video, _Mapping]] = ...) -> None: ...

class StoredChunk(_message.Message):
    __slots__ = ("index", "size_bytes", "crc32c", "is_last", "file_token")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    IS_LAST_FIELD_NUMBER: _ClassVar[int]
    FILE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    index: int
    size_bytes: int
    crc32c: int
    is_last: bool
    file_token: str
    def __init__(self, index: _Optional[int] = ..., size_bytes: _Optional[int] = ..., crc32c: _Optional[int] = ..., is_last: _Optional[bool] = ..., file_token: _Optional[str] = ...) -> None: ...

class RecordChunksRequest(_message.Message):
    __slots__ = ("video_id", "chunks", "max_upload_bytes", "user_quota_bytes")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    MAX_UPLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    USER_QUOTA_BYTES_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    chunks: _containers.RepeatedCompositeFieldContainer[StoredChunk]
    max_upload_bytes: int
    user_quota_bytes: int
    def __init__(self, video_id: _Optional[str] = ..., chunks: _Optional[_Iterable[_Union[StoredChunk, _Mapping]]] = ..., max_upload_bytes: _Optional[int] = ..., user_quota_bytes: _Optional[int] = ...) -> None: ...

class RecordChunksResponse(_message.Message):
    __slots__ = ("outcomes", "state", "completed_upload")
    OUTCOMES_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_UPLOAD_FIELD_NUMBER: _ClassVar[int]
    outcomes: _containers.RepeatedScalarFieldContainer[_common_pb2.ChunkOutcome]
    state: _common_pb2.UploadState
    completed_upload: bool
    def __init__(self, outcomes: _Optional[_Iterable[_Union[_common_pb2.ChunkOutcome, str]]] = ..., state: _Optional[_Union[_common_pb2.UploadState, _Mapping]] = ..., completed_upload: _Optional[bool] = ...) -> None: ...

class GetUploadStateRequest(_message.Message):
    __slots__ = ("video_id", "summary_only")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_ONLY_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    summary_only: bool
    def __init__(self, video_id: _Optional[str] = ..., summary_only: _Optional[bool] = ...) -> None: ...

class GetUploadStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _common_pb2.UploadState
    def __init__(self, state: _Optional[_Union[_common_pb2.UploadState, _Mapping]] = ...) -> None: ...

class ClaimProcessingRequest(_message.Message):
    __slots__ = ("video_id", "worker_id", "lease_seconds")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    worker_id: str
    lease_seconds: int
    def __init__(self, video_id: _Optional[str] = ..., worker_id: _Optional[str] = ..., lease_seconds: _Optional[int] = ...) -> None: ...

class ClaimProcessingResponse(_message.Message):
    __slots__ = ("claimed", "video")
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    claimed: bool
    video: _common_pb2.Video
    def __init__(self, claimed: _Optional[bool] = ..., video: _Optional[_Union[_common_pb2.Video, _Mapping]] = ...) -> None: ...

class ReportProgressRequest(_message.Message):
    __slots__ = ("video_id", "worker_id", "step", "progress", "lease_seconds")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    worker_id: str
    step: _common_pb2.ProcessingStep
    progress: float
    lease_seconds: int
    def __init__(self, video_id: _Optional[str] = ..., worker_id: _Optional[str] = ..., step: _Optional[_Union[_common_pb2.ProcessingStep, str]] = ..., progress: _Optional[float] = ..., lease_seconds: _Optional[int] = ...) -> None: ...

class ReportProgressResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PutAssetRequest(_message.Message):
    __slots__ = ("video_id", "kind", "content_type", "size_bytes", "path")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    kind: _common_pb2.AssetKind
    content_type: str
    size_bytes: int
    path: str
    def __init__(self, video_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.AssetKind, str]] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., path: _Optional[str] = ...) -> None: ...

class PutAssetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetMediaInfoRequest(_message.Message):
    __slots__ = ("video_id", "media")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    media: _common_pb2.MediaInfo
    def __init__(self, video_id: _Optional[str] = ..., media: _Optional[_Union[_common_pb2.MediaInfo, _Mapping]] = ...) -> None: ...

class SetMediaInfoResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FinishProcessingRequest(_message.Message):
    __slots__ = ("video_id", "worker_id", "status", "error_step", "error", "assets", "media")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_STEP_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    worker_id: str
    status: _common_pb2.VideoStatus
    error_step: _common_pb2.ProcessingStep
    error: str
    assets: _containers.RepeatedCompositeFieldContainer[_common_pb2.Asset]
    media: _common_pb2.MediaInfo
    def __init__(self, video_id: _Optional[str] = ..., worker_id: _Optional[str] = ..., status: _Optional[_Union[_common_pb2.VideoStatus, str]] = ..., error_step: _Optional[_Union[_common_pb2.ProcessingStep, str]] = ..., error: _Optional[str] = ..., assets: _Optional[_Iterable[_Union[_common_pb2.Asset, _Mapping]]] = ..., media: _Optional[_Union[_common_pb2.MediaInfo, _Mapping]] = ...) -> None: ...

class FinishProcessingResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: _common_pb2.Video
    def __init__(self, video: _Optional[_Union[_common_pb2.Video, _Mapping]] = ...) -> None: ...

class ListPendingProcessingRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class PendingVideo(_message.Message):
    __slots__ = ("video_id", "owner_id")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    owner_id: str
    def __init__(self, video_id: _Optional[str] = ..., owner_id: _Optional[str] = ...) -> None: ...

class ListPendingProcessingResponse(_message.Message):
    __slots__ = ("videos",)
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[PendingVideo]
    def __init__(self, videos: _Optional[_Iterable[_Union[PendingVideo, _Mapping]]] = ...) -> None: ...

class MarkDeletedRequest(_message.Message):
    __slots__ = ("video_id", "abort_only")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    ABORT_ONLY_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    abort_only: bool
    def __init__(self, video_id: _Optional[str] = ..., abort_only: _Optional[bool] = ...) -> None: ...

class MarkDeletedResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: _common_pb2.Video
    def __init__(self, video: _Optional[_Union[_common_pb2.Video, _Mapping]] = ...) -> None: ...

class PurgeVideoRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class PurgeVideoResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExpireStaleUploadsRequest(_message.Message):
    __slots__ = ("idle_seconds", "limit")
    IDLE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    idle_seconds: int
    limit: int
    def __init__(self, idle_seconds: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ExpireStaleUploadsResponse(_message.Message):
    __slots__ = ("videos",)
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[PendingVideo]
    def __init__(self, videos: _Optional[_Iterable[_Union[PendingVideo, _Mapping]]] = ...) -> None: ...

class ListDeletedVideosRequest(_message.Message):
    __slots__ = ("older_than_seconds", "limit")
    OLDER_THAN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    older_than_seconds: int
    limit: int
    def __init__(self, older_than_seconds: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListDeletedVideosResponse(_message.Message):
    __slots__ = ("videos",)
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[PendingVideo]
    def __init__(self, videos: _Optional[_Iterable[_Union[PendingVideo, _Mapping]]] = ...) -> None: ...

class ListReadyWithChunksRequest(_message.Message):
    __slots__ = ("older_than_seconds", "limit")
    OLDER_THAN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    older_than_seconds: int
    limit: int
    def __init__(self, older_than_seconds: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListReadyWithChunksResponse(_message.Message):
    __slots__ = ("videos",)
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[PendingVideo]
    def __init__(self, videos: _Optional[_Iterable[_Union[PendingVideo, _Mapping]]] = ...) -> None: ...

class ForgetChunksRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class ForgetChunksResponse(_message.Message):
    __slots__ = ("forgotten_chunks",)
    FORGOTTEN_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    forgotten_chunks: int
    def __init__(self, forgotten_chunks: _Optional[int] = ...) -> None: ...

class RetryProcessingRequest(_message.Message):
    __slots__ = ("video_id", "rendition")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    rendition: _common_pb2.RenditionKind
    def __init__(self, video_id: _Optional[str] = ..., rendition: _Optional[_Union[_common_pb2.RenditionKind, str]] = ...) -> None: ...

class RetryProcessingResponse(_message.Message):
    __slots__ = ("video",)
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    video: _common_pb2.Video
    def __init__(self, video: _Optional[_Union[_common_pb2.Video, _Mapping]] = ...) -> None: ...

class ListChunksRequest(_message.Message):
    __slots__ = ("video_id", "from_index", "limit")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_INDEX_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    from_index: int
    limit: int
    def __init__(self, video_id: _Optional[str] = ..., from_index: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListChunksResponse(_message.Message):
    __slots__ = ("chunks",)
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    chunks: _containers.RepeatedCompositeFieldContainer[StoredChunk]
    def __init__(self, chunks: _Optional[_Iterable[_Union[StoredChunk, _Mapping]]] = ...) -> None: ...

class FailExhaustedJobsRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class FailExhaustedJobsResponse(_message.Message):
    __slots__ = ("videos",)
    VIDEOS_FIELD_NUMBER: _ClassVar[int]
    videos: _containers.RepeatedCompositeFieldContainer[PendingVideo]
    def __init__(self, videos: _Optional[_Iterable[_Union[PendingVideo, _Mapping]]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("after_cursor", "types", "from_newest")
    AFTER_CURSOR_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    FROM_NEWEST_FIELD_NUMBER: _ClassVar[int]
    after_cursor: int
    types: _containers.RepeatedScalarFieldContainer[str]
    from_newest: bool
    def __init__(self, after_cursor: _Optional[int] = ..., types: _Optional[_Iterable[str]] = ..., from_newest: _Optional[bool] = ...) -> None: ...

class FeedEvent(_message.Message):
    __slots__ = ("cursor", "id", "type", "video_id", "owner_id", "time", "assets", "error", "rendition", "link_id")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    cursor: int
    id: str
    type: str
    video_id: str
    owner_id: str
    time: _timestamp_pb2.Timestamp
    assets: _containers.RepeatedCompositeFieldContainer[_common_pb2.Asset]
    error: str
    rendition: _common_pb2.RenditionKind
    link_id: str
    def __init__(self, cursor: _Optional[int] = ..., id: _Optional[str] = ..., type: _Optional[str] = ..., video_id: _Optional[str] = ..., owner_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., assets: _Optional[_Iterable[_Union[_common_pb2.Asset, _Mapping]]] = ..., error: _Optional[str] = ..., rendition: _Optional[_Union[_common_pb2.RenditionKind, str]] = ..., link_id: _Optional[str] = ...) -> None: ...

class ListWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("state", "after_id", "limit")
    STATE_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    state: WebhookDeliveryState
    after_id: int
    limit: int
    def __init__(self, state: _Optional[_Union[WebhookDeliveryState, str]] = ..., after_id: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class WebhookDelivery(_message.Message):
    __slots__ = ("id", "event_id", "event_cursor", "endpoint", "state", "attempts", "next_attempt_at", "last_status_code", "last_error", "created_at", "finished_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    id: int
    event_id: str
    event_cursor: int
    endpoint: str
    state: WebhookDeliveryState
    attempts: int
    next_attempt_at: _timestamp_pb2.Timestamp
    last_status_code: int
    last_error: str
    created_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., event_id: _Optional[str] = ..., event_cursor: _Optional[int] = ..., endpoint: _Optional[str] = ..., state: _Optional[_Union[WebhookDeliveryState, str]] = ..., attempts: _Optional[int] = ..., next_attempt_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_status_code: _Optional[int] = ..., last_error: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries",)
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[WebhookDelivery]
    def __init__(self, deliveries: _Optional[_Iterable[_Union[WebhookDelivery, _Mapping]]] = ...) -> None: ...

class ShareLink(_message.Message):
    __slots__ = ("link_id", "video_id", "created_at", "expires_at", "revoked_at", "allow_download", "path")
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DOWNLOAD_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    video_id: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    allow_download: bool
    path: str
    def __init__(self, link_id: _Optional[str] = ..., video_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., allow_download: _Optional[bool] = ..., path: _Optional[str] = ...) -> None: ...

class CreateShareLinkRequest(_message.Message):
    __slots__ = ("video_id", "expires_in_seconds", "allow_download")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DOWNLOAD_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    expires_in_seconds: int
    allow_download: bool
    def __init__(self, video_id: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ..., allow_download: _Optional[bool] = ...) -> None: ...

class CreateShareLinkResponse(_message.Message):
    __slots__ = ("link",)
    LINK_FIELD_NUMBER: _ClassVar[int]
    link: ShareLink
    def __init__(self, link: _Optional[_Union[ShareLink, _Mapping]] = ...) -> None: ...

class ListShareLinksRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class ListShareLinksResponse(_message.Message):
    __slots__ = ("links",)
    LINKS_FIELD_NUMBER: _ClassVar[int]
    links: _containers.RepeatedCompositeFieldContainer[ShareLink]
    def __init__(self, links: _Optional[_Iterable[_Union[ShareLink, _Mapping]]] = ...) -> None: ...

class RevokeShareLinkRequest(_message.Message):
    __slots__ = ("link_id",)
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    def __init__(self, link_id: _Optional[str] = ...) -> None: ...

class RevokeShareLinkResponse(_message.Message):
    __slots__ = ("link",)
    LINK_FIELD_NUMBER: _ClassVar[int]
    link: ShareLink
    def __init__(self, link: _Optional[_Union[ShareLink, _Mapping]] = ...) -> None: ...

class ResolveShareLinkRequest(_message.Message):
    __slots__ = ("link_id",)
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    def __init__(self, link_id: _Optional[str] = ...) -> None: ...

class ResolveShareLinkResponse(_message.Message):
    __slots__ = ("state", "owner_id", "video_id", "title", "expires_at", "allow_download", "video")
    STATE_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ALLOW_DOWNLOAD_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    state: ShareLinkState
    owner_id: str
    video_id: str
    title: str
    expires_at: _timestamp_pb2.Timestamp
    allow_download: bool
    video: _common_pb2.Video
    def __init__(self, state: _Optional[_Union[ShareLinkState, str]] = ..., owner_id: _Optional[str] = ..., video_id: _Optional[str] = ..., title: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., allow_download: _Optional[bool] = ..., video: _Optional[_Union[_common_pb2.Video, _Mapping]] = ...) -> None: ...

class ClaimRenditionRequest(_message.Message):
    __slots__ = ("video_id", "kind", "worker_id", "lease_seconds")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    kind: _common_pb2.RenditionKind
    worker_id: str
    lease_seconds: int
    def __init__(self, video_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.RenditionKind, str]] = ..., worker_id: _Optional[str] = ..., lease_seconds: _Optional[int] = ...) -> None: ...

class ClaimRenditionResponse(_message.Message):
    __slots__ = ("claimed", "video", "owner_id", "kind")
    CLAIMED_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    claimed: bool
    video: _common_pb2.Video
    owner_id: str
    kind: _common_pb2.RenditionKind
    def __init__(self, claimed: _Optional[bool] = ..., video: _Optional[_Union[_common_pb2.Video, _Mapping]] = ..., owner_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.RenditionKind, str]] = ...) -> None: ...

class ReportRenditionProgressRequest(_message.Message):
    __slots__ = ("video_id", "kind", "worker_id", "progress", "lease_seconds")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    kind: _common_pb2.RenditionKind
    worker_id: str
    progress: float
    lease_seconds: int
    def __init__(self, video_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.RenditionKind, str]] = ..., worker_id: _Optional[str] = ..., progress: _Optional[float] = ..., lease_seconds: _Optional[int] = ...) -> None: ...

class ReportRenditionProgressResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FinishRenditionRequest(_message.Message):
    __slots__ = ("video_id", "kind", "worker_id", "state", "asset", "error")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    kind: _common_pb2.RenditionKind
    worker_id: str
    state: _common_pb2.RenditionState
    asset: _common_pb2.Asset
    error: str
    def __init__(self, video_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.RenditionKind, str]] = ..., worker_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.RenditionState, str]] = ..., asset: _Optional[_Union[_common_pb2.Asset, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class FinishRenditionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
