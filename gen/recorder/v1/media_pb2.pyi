from recorder.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PlaybackKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PLAYBACK_KIND_UNSPECIFIED: _ClassVar[PlaybackKind]
    PLAYBACK_KIND_ORIGINAL: _ClassVar[PlaybackKind]
    PLAYBACK_KIND_COMPRESSED: _ClassVar[PlaybackKind]
    PLAYBACK_KIND_THUMBNAIL: _ClassVar[PlaybackKind]
    PLAYBACK_KIND_STORYBOARD: _ClassVar[PlaybackKind]
    PLAYBACK_KIND_HLS: _ClassVar[PlaybackKind]

class AudioFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIO_FORMAT_UNSPECIFIED: _ClassVar[AudioFormat]
    AUDIO_FORMAT_AAC: _ClassVar[AudioFormat]
    AUDIO_FORMAT_MP3: _ClassVar[AudioFormat]
    AUDIO_FORMAT_FLAC: _ClassVar[AudioFormat]
    AUDIO_FORMAT_ORIGINAL: _ClassVar[AudioFormat]

class ImageFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_FORMAT_UNSPECIFIED: _ClassVar[ImageFormat]
    IMAGE_FORMAT_JPEG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_WEBP: _ClassVar[ImageFormat]
    IMAGE_FORMAT_GIF: _ClassVar[ImageFormat]
PLAYBACK_KIND_UNSPECIFIED: PlaybackKind
PLAYBACK_KIND_ORIGINAL: PlaybackKind
PLAYBACK_KIND_COMPRESSED: PlaybackKind
PLAYBACK_KIND_THUMBNAIL: PlaybackKind
PLAYBACK_KIND_STORYBOARD: PlaybackKind
PLAYBACK_KIND_HLS: PlaybackKind
AUDIO_FORMAT_UNSPECIFIED: AudioFormat
AUDIO_FORMAT_AAC: AudioFormat
AUDIO_FORMAT_MP3: AudioFormat
AUDIO_FORMAT_FLAC: AudioFormat
AUDIO_FORMAT_ORIGINAL: AudioFormat
IMAGE_FORMAT_UNSPECIFIED: ImageFormat
IMAGE_FORMAT_JPEG: ImageFormat
IMAGE_FORMAT_WEBP: ImageFormat
IMAGE_FORMAT_GIF: ImageFormat

class GetPlaybackUrlRequest(_message.Message):
    __slots__ = ("video_id", "kind")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    kind: PlaybackKind
    def __init__(self, video_id: _Optional[str] = ..., kind: _Optional[_Union[PlaybackKind, str]] = ...) -> None: ...

class GetPlaybackUrlResponse(_message.Message):
    __slots__ = ("url", "kind", "content_type", "expires_at_unix")
    URL_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    url: str
    kind: PlaybackKind
    content_type: str
    expires_at_unix: int
    def __init__(self, url: _Optional[str] = ..., kind: _Optional[_Union[PlaybackKind, str]] = ..., content_type: _Optional[str] = ..., expires_at_unix: _Optional[int] = ...) -> None: ...

class ExtractAudioRequest(_message.Message):
    __slots__ = ("video_id", "format", "bitrate_kbps", "mp3_quality")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    BITRATE_KBPS_FIELD_NUMBER: _ClassVar[int]
    MP3_QUALITY_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    format: AudioFormat
    bitrate_kbps: int
    mp3_quality: int
    def __init__(self, video_id: _Optional[str] = ..., format: _Optional[_Union[AudioFormat, str]] = ..., bitrate_kbps: _Optional[int] = ..., mp3_quality: _Optional[int] = ...) -> None: ...

class ExtractAudioResponse(_message.Message):
    __slots__ = ("asset",)
    ASSET_FIELD_NUMBER: _ClassVar[int]
    asset: _common_pb2.Asset
    def __init__(self, asset: _Optional[_Union[_common_pb2.Asset, _Mapping]] = ...) -> None: ...

class MakeThumbnailRequest(_message.Message):
    __slots__ = ("video_id", "at_seconds", "width", "format")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    AT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    at_seconds: float
    width: int
    format: ImageFormat
    def __init__(self, video_id: _Optional[str] = ..., at_seconds: _Optional[float] = ..., width: _Optional[int] = ..., format: _Optional[_Union[ImageFormat, str]] = ...) -> None: ...

class MakeThumbnailResponse(_message.Message):
    __slots__ = ("asset",)
    ASSET_FIELD_NUMBER: _ClassVar[int]
    asset: _common_pb2.Asset
    def __init__(self, asset: _Optional[_Union[_common_pb2.Asset, _Mapping]] = ...) -> None: ...

class MakePreviewRequest(_message.Message):
    __slots__ = ("video_id", "start_seconds", "seconds", "width", "fps", "format")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    start_seconds: float
    seconds: float
    width: int
    fps: int
    format: ImageFormat
    def __init__(self, video_id: _Optional[str] = ..., start_seconds: _Optional[float] = ..., seconds: _Optional[float] = ..., width: _Optional[int] = ..., fps: _Optional[int] = ..., format: _Optional[_Union[ImageFormat, str]] = ...) -> None: ...

class MakePreviewResponse(_message.Message):
    __slots__ = ("asset",)
    ASSET_FIELD_NUMBER: _ClassVar[int]
    asset: _common_pb2.Asset
    def __init__(self, asset: _Optional[_Union[_common_pb2.Asset, _Mapping]] = ...) -> None: ...

class DownloadRequest(_message.Message):
    __slots__ = ("video_id", "kind", "offset")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    kind: _common_pb2.AssetKind
    offset: int
    def __init__(self, video_id: _Optional[str] = ..., kind: _Optional[_Union[_common_pb2.AssetKind, str]] = ..., offset: _Optional[int] = ...) -> None: ...

class DownloadChunk(_message.Message):
    __slots__ = ("offset", "data", "total_size", "content_type")
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    offset: int
    data: bytes
    total_size: int
    content_type: str
    def __init__(self, offset: _Optional[int] = ..., data: _Optional[bytes] = ..., total_size: _Optional[int] = ..., content_type: _Optional[str] = ...) -> None: ...

class ProcessVideoRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class ProcessVideoResponse(_message.Message):
    __slots__ = ("accepted", "status")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    status: _common_pb2.VideoStatus
    def __init__(self, accepted: _Optional[bool] = ..., status: _Optional[_Union[_common_pb2.VideoStatus, str]] = ...) -> None: ...

class ChunkStoredRequest(_message.Message):
    __slots__ = ("video_id", "index", "stored")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    STORED_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    index: int
    stored: _containers.RepeatedCompositeFieldContainer[StoredChunkFile]
    def __init__(self, video_id: _Optional[str] = ..., index: _Optional[int] = ..., stored: _Optional[_Iterable[_Union[StoredChunkFile, _Mapping]]] = ...) -> None: ...

class StoredChunkFile(_message.Message):
    __slots__ = ("index", "file_token")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    FILE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    index: int
    file_token: str
    def __init__(self, index: _Optional[int] = ..., file_token: _Optional[str] = ...) -> None: ...

class ChunkStoredResponse(_message.Message):
    __slots__ = ("live",)
    LIVE_FIELD_NUMBER: _ClassVar[int]
    live: bool
    def __init__(self, live: _Optional[bool] = ...) -> None: ...
