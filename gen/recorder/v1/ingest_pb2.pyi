from recorder.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateUploadRequest(_message.Message):
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

class CreateUploadResponse(_message.Message):
    __slots__ = ("video_id", "max_chunk_bytes")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    max_chunk_bytes: int
    def __init__(self, video_id: _Optional[str] = ..., max_chunk_bytes: _Optional[int] = ...) -> None: ...

class Chunk(_message.Message):
    __slots__ = ("index", "data", "crc32c", "sha256", "is_last")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    IS_LAST_FIELD_NUMBER: _ClassVar[int]
    index: int
    data: bytes
    crc32c: int
    sha256: bytes
    is_last: bool
    def __init__(self, index: _Optional[int] = ..., data: _Optional[bytes] = ..., crc32c: _Optional[int] = ..., sha256: _Optional[bytes] = ..., is_last: _Optional[bool] = ...) -> None: ...

class ChunkAck(_message.Message):
    __slots__ = ("index", "outcome", "state")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    index: int
    outcome: _common_pb2.ChunkOutcome
    state: _common_pb2.UploadState
    def __init__(self, index: _Optional[int] = ..., outcome: _Optional[_Union[_common_pb2.ChunkOutcome, str]] = ..., state: _Optional[_Union[_common_pb2.UploadState, _Mapping]] = ...) -> None: ...

class PutChunkRequest(_message.Message):
    __slots__ = ("video_id", "chunk")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    chunk: Chunk
    def __init__(self, video_id: _Optional[str] = ..., chunk: _Optional[_Union[Chunk, _Mapping]] = ...) -> None: ...

class PutChunkResponse(_message.Message):
    __slots__ = ("ack",)
    ACK_FIELD_NUMBER: _ClassVar[int]
    ack: ChunkAck
    def __init__(self, ack: _Optional[_Union[ChunkAck, _Mapping]] = ...) -> None: ...

class GetIngestUploadStateRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class GetIngestUploadStateResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: _common_pb2.UploadState
    def __init__(self, state: _Optional[_Union[_common_pb2.UploadState, _Mapping]] = ...) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("create", "resume_video_id")
    CREATE_FIELD_NUMBER: _ClassVar[int]
    RESUME_VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    create: CreateUploadRequest
    resume_video_id: str
    def __init__(self, create: _Optional[_Union[CreateUploadRequest, _Mapping]] = ..., resume_video_id: _Optional[str] = ...) -> None: ...

class UploadRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    chunk: Chunk
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., chunk: _Optional[_Union[Chunk, _Mapping]] = ...) -> None: ...

class UploadResponse(_message.Message):
    __slots__ = ("video_id", "state", "duplicate_chunks")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_CHUNKS_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    state: _common_pb2.UploadState
    duplicate_chunks: int
    def __init__(self, video_id: _Optional[str] = ..., state: _Optional[_Union[_common_pb2.UploadState, _Mapping]] = ..., duplicate_chunks: _Optional[int] = ...) -> None: ...

class AbortUploadRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class AbortUploadResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DeleteVideoRequest(_message.Message):
    __slots__ = ("video_id",)
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    def __init__(self, video_id: _Optional[str] = ...) -> None: ...

class DeleteVideoResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RetryVideoProcessingRequest(_message.Message):
    __slots__ = ("video_id", "rendition")
    VIDEO_ID_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    video_id: str
    rendition: _common_pb2.RenditionKind
    def __init__(self, video_id: _Optional[str] = ..., rendition: _Optional[_Union[_common_pb2.RenditionKind, str]] = ...) -> None: ...

class RetryVideoProcessingResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: _common_pb2.VideoStatus
    def __init__(self, status: _Optional[_Union[_common_pb2.VideoStatus, str]] = ...) -> None: ...
