import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VideoStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIDEO_STATUS_UNSPECIFIED: _ClassVar[VideoStatus]
    VIDEO_STATUS_UPLOADING: _ClassVar[VideoStatus]
    VIDEO_STATUS_UPLOADED: _ClassVar[VideoStatus]
    VIDEO_STATUS_PROCESSING: _ClassVar[VideoStatus]
    VIDEO_STATUS_READY: _ClassVar[VideoStatus]
    VIDEO_STATUS_FAILED: _ClassVar[VideoStatus]
    VIDEO_STATUS_EXPIRED: _ClassVar[VideoStatus]
    VIDEO_STATUS_DELETED: _ClassVar[VideoStatus]

class ProcessingStep(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROCESSING_STEP_UNSPECIFIED: _ClassVar[ProcessingStep]
    PROCESSING_STEP_ASSEMBLE: _ClassVar[ProcessingStep]
    PROCESSING_STEP_PROBE: _ClassVar[ProcessingStep]
    PROCESSING_STEP_REMUX: _ClassVar[ProcessingStep]
    PROCESSING_STEP_COMPRESS: _ClassVar[ProcessingStep]
    PROCESSING_STEP_THUMBNAIL: _ClassVar[ProcessingStep]

class AssetKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ASSET_KIND_UNSPECIFIED: _ClassVar[AssetKind]
    ASSET_KIND_SOURCE: _ClassVar[AssetKind]
    ASSET_KIND_ORIGINAL: _ClassVar[AssetKind]
    ASSET_KIND_COMPRESSED: _ClassVar[AssetKind]
    ASSET_KIND_THUMBNAIL: _ClassVar[AssetKind]
    ASSET_KIND_AUDIO_AAC: _ClassVar[AssetKind]
    ASSET_KIND_AUDIO_MP3: _ClassVar[AssetKind]
    ASSET_KIND_AUDIO_FLAC: _ClassVar[AssetKind]
    ASSET_KIND_AUDIO_ORIGINAL: _ClassVar[AssetKind]
    ASSET_KIND_PREVIEW: _ClassVar[AssetKind]
    ASSET_KIND_STORYBOARD: _ClassVar[AssetKind]
    ASSET_KIND_STORYBOARD_VTT: _ClassVar[AssetKind]
    ASSET_KIND_HLS: _ClassVar[AssetKind]

class RenditionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RENDITION_KIND_UNSPECIFIED: _ClassVar[RenditionKind]
    RENDITION_KIND_COMPRESSED: _ClassVar[RenditionKind]
    RENDITION_KIND_STORYBOARD: _ClassVar[RenditionKind]

class RenditionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RENDITION_STATE_UNSPECIFIED: _ClassVar[RenditionState]
    RENDITION_STATE_PENDING: _ClassVar[RenditionState]
    RENDITION_STATE_PROCESSING: _ClassVar[RenditionState]
    RENDITION_STATE_READY: _ClassVar[RenditionState]
    RENDITION_STATE_FAILED: _ClassVar[RenditionState]

class ChunkOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHUNK_OUTCOME_UNSPECIFIED: _ClassVar[ChunkOutcome]
    CHUNK_OUTCOME_STORED: _ClassVar[ChunkOutcome]
    CHUNK_OUTCOME_DUPLICATE: _ClassVar[ChunkOutcome]
VIDEO_STATUS_UNSPECIFIED: VideoStatus
VIDEO_STATUS_UPLOADING: VideoStatus
VIDEO_STATUS_UPLOADED: VideoStatus
VIDEO_STATUS_PROCESSING: VideoStatus
VIDEO_STATUS_READY: VideoStatus
VIDEO_STATUS_FAILED: VideoStatus
VIDEO_STATUS_EXPIRED: VideoStatus
VIDEO_STATUS_DELETED: VideoStatus
PROCESSING_STEP_UNSPECIFIED: ProcessingStep
PROCESSING_STEP_ASSEMBLE: ProcessingStep
PROCESSING_STEP_PROBE: ProcessingStep
PROCESSING_STEP_REMUX: ProcessingStep
PROCESSING_STEP_COMPRESS: ProcessingStep
PROCESSING_STEP_THUMBNAIL: ProcessingStep
ASSET_KIND_UNSPECIFIED: AssetKind
ASSET_KIND_SOURCE: AssetKind
ASSET_KIND_ORIGINAL: AssetKind
ASSET_KIND_COMPRESSED: AssetKind
ASSET_KIND_THUMBNAIL: AssetKind
ASSET_KIND_AUDIO_AAC: AssetKind
ASSET_KIND_AUDIO_MP3: AssetKind
ASSET_KIND_AUDIO_FLAC: AssetKind
ASSET_KIND_AUDIO_ORIGINAL: AssetKind
ASSET_KIND_PREVIEW: AssetKind
ASSET_KIND_STORYBOARD: AssetKind
ASSET_KIND_STORYBOARD_VTT: AssetKind
ASSET_KIND_HLS: AssetKind
RENDITION_KIND_UNSPECIFIED: RenditionKind
RENDITION_KIND_COMPRESSED: RenditionKind
RENDITION_KIND_STORYBOARD: RenditionKind
RENDITION_STATE_UNSPECIFIED: RenditionState
RENDITION_STATE_PENDING: RenditionState
RENDITION_STATE_PROCESSING: RenditionState
RENDITION_STATE_READY: RenditionState
RENDITION_STATE_FAILED: RenditionState
CHUNK_OUTCOME_UNSPECIFIED: ChunkOutcome
CHUNK_OUTCOME_STORED: ChunkOutcome
CHUNK_OUTCOME_DUPLICATE: ChunkOutcome

class Asset(_message.Message):
    __slots__ = ("kind", "content_type", "size_bytes", "path", "created_at")
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    kind: AssetKind
    content_type: str
    size_bytes: int
    path: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, kind: _Optional[_Union[AssetKind, str]] = ..., content_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., path: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class StatusEvent(_message.Message):
    __slots__ = ("status", "step", "progress", "message", "at")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    status: VideoStatus
    step: ProcessingStep
    progress: float
    message: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, status: _Optional[_Union[VideoStatus, str]] = ..., step: _Optional[_Union[ProcessingStep, str]] = ..., progress: _Optional[float] = ..., message: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MediaInfo(_message.Message):
    __slots__ = ("duration_seconds", "width", "height", "video_codec", "audio_codec", "container")
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    VIDEO_CODEC_FIELD_NUMBER: _ClassVar[int]
    AUDIO_CODEC_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FIELD_NUMBER: _ClassVar[int]
    duration_seconds: float
    width: int
    height: int
    video_codec: str
    audio_codec: str
    container: str
    def __init__(self, duration_seconds: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., video_codec: _Optional[str] = ..., audio_codec: _Optional[str] = ..., container: _Optional[str] = ...) -> None: ...

class Rendition(_message.Message):
    __slots__ = ("kind", "state", "progress", "error", "asset")
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ASSET_FIELD_NUMBER: _ClassVar[int]
    kind: RenditionKind
    state: RenditionState
    progress: float
    error: str
    asset: Asset
    def __init__(self, kind: _Optional[_Union[RenditionKind, str]] = ..., state: _Optional[_Union[RenditionState, str]] = ..., progress: _Optional[float] = ..., error: _Optional[str] = ..., asset: _Optional[_Union[Asset, _Mapping]] = ...) -> None: ...

class Video(_message.Message):
    __slots__ = ("video_id", "title", "filename", "content_type", "status", "current_step", "progress", "error", "error_step", "expected_size_bytes", "received_bytes", "received_chunks", "last_index", "media", "assets", "history", "created_at", "updated_at", "renditions")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_STEP_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_STEP_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    LAST_INDEX_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    ASSETS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    title: str
    filename: str
    content_type: str
    status: VideoStatus
    current_step: ProcessingStep
    progress: float
    error: str
    error_step: ProcessingStep
    expected_size_bytes: int
    received_bytes: int
    received_chunks: int
    last_index: int
    media: MediaInfo
    assets: _containers.RepeatedCompositeFieldContainer[Asset]
    history: _containers.RepeatedCompositeFieldContainer[StatusEvent]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    renditions: _containers.RepeatedCompositeFieldContainer[Rendition]
    def __init__(self, video_id: _Optional[str] = ..., title: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., status: _Optional[_Union[VideoStatus, str]] = ..., current_step: _Optional[_Union[ProcessingStep, str]] = ..., progress: _Optional[float] = ..., error: _Optional[str] = ..., error_step: _Optional[_Union[ProcessingStep, str]] = ..., expected_size_bytes: _Optional[int] = ..., received_bytes: _Optional[int] = ..., received_chunks: _Optional[int] = ..., last_index: _Optional[int] = ..., media: _Optional[_Union[MediaInfo, _Mapping]] = ..., assets: _Optional[_Iterable[_Union[Asset, _Mapping]]] = ..., history: _Optional[_Iterable[_Union[StatusEvent, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., renditions: _Optional[_Iterable[_Union[Rendition, _Mapping]]] = ...) -> None: ...

class UploadState(_message.Message):
    __slots__ = ("video_id", "status", "received_chunks", "received_bytes", "last_index", "complete", "missing_indices", "stored_indices")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAST_INDEX_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    MISSING_INDICES_FIELD_NUMBER: _ClassVar[int]
    STORED_INDICES_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    status: VideoStatus
    received_chunks: int
    received_bytes: int
    last_index: int
    complete: bool
    missing_indices: _containers.RepeatedScalarFieldContainer[int]
    stored_indices: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, video_id: _Optional[str] = ..., status: _Optional[_Union[VideoStatus, str]] = ..., received_chunks: _Optional[int] = ..., received_bytes: _Optional[int] = ..., last_index: _Optional[int] = ..., complete: _Optional[bool] = ..., missing_indices: _Optional[_Iterable[int]] = ..., stored_indices: _Optional[_Iterable[int]] = ...) -> None: ...
