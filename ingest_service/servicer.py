"""gRPC face of the upload engine: proto <-> domain translation and error mapping only."""

from __future__ import annotations

import asyncio

from ingest_service.engine import ChunkAck, IncomingChunk, UploadEngine
from recorder.v1 import ingest_pb2, ingest_pb2_grpc
from recorder_common.errors import DeadlineExceeded, InvalidArgument, Reason
from recorder_common.identity import current_caller
from recorder_common.rpc import maps_domain_errors
from recorder_common.uploads import upload_state_message as state_message
from recorder_common.vocab import VideoStatus, rendition_kind


def incoming(chunk: ingest_pb2.Chunk) -> IncomingChunk:
    which = chunk.WhichOneof("checksum")
    return IncomingChunk(
        index=chunk.index,
        data=chunk.data,
        is_last=chunk.is_last,
        crc32c=chunk.crc32c if which == "crc32c" else None,
        sha256=chunk.sha256 if which == "sha256" else None,
    )


def ack_message(ack: ChunkAck) -> ingest_pb2.ChunkAck:
    return ingest_pb2.ChunkAck(index=ack.index, outcome=ack.outcome.proto, state=state_message(ack.state))


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, engine: UploadEngine) -> None:
        self.engine = engine

    @maps_domain_errors
    async def CreateUpload(self, request, context):
        video_id = await self.engine.create_upload(
            current_caller().require_user(),
            request.title,
            request.filename,
            request.content_type,
            request.expected_size_bytes,
        )
        return ingest_pb2.CreateUploadResponse(video_id=video_id, max_chunk_bytes=self.engine.limits.max_chunk_bytes)

    @maps_domain_errors
    async def PutChunk(self, request, context):
        if not request.HasField("chunk"):
            raise InvalidArgument("PutChunk needs a chunk")
        ack = await self.engine.put_chunk(current_caller().require_user(), request.video_id, incoming(request.chunk))
        return ingest_pb2.PutChunkResponse(ack=ack_message(ack))

    @maps_domain_errors
    async def GetUploadState(self, request, context):
        state = await self.engine.upload_state(current_caller().require_user(), request.video_id)
        return ingest_pb2.GetIngestUploadStateResponse(state=state_message(state))

    @maps_domain_errors
    async def AbortUpload(self, request, context):
        await self.engine.abort_upload(current_caller().require_user(), request.video_id)
        return ingest_pb2.AbortUploadResponse()

    @maps_domain_errors
    async def DeleteVideo(self, request, context):
        await self.engine.delete_video(current_caller().require_user(), request.video_id)
        return ingest_pb2.DeleteVideoResponse()

    @maps_domain_errors
    async def RetryProcessing(self, request, context):
        try:
            rendition = rendition_kind(request.rendition)
        except ValueError:
            raise InvalidArgument(f"unknown rendition kind {request.rendition}") from None
        status = await self.engine.retry_processing(current_caller().require_user(), request.video_id, rendition)
        return ingest_pb2.RetryVideoProcessingResponse(status=VideoStatus.proto_of(status))

    @maps_domain_errors
    async def Upload(self, request_iterator, context):
        owner = current_caller().require_user()
        video_id = ""
        stream = None
        idle = self.engine.limits.stream_idle_seconds
        messages = aiter(request_iterator)
        try:
            while True:
                try:
                    message = await asyncio.wait_for(anext(messages), idle)
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:
                    # A stream that goes quiet holds a connection and a window of memory: close
                    # it. What it sent is recorded (close() below); resume from GetUploadState.
                    raise DeadlineExceeded(
                        f"the upload stream sent nothing for {idle:.0f} s and was closed; what arrived "
                        "is kept: resume with the missing chunks",
                        Reason.STREAM_IDLE,
                    ) from None
                kind = message.WhichOneof("message")
                if stream is None:
                    if kind != "header":
                        raise InvalidArgument(
                            "the first message of Upload must be a header (create a new upload or resume one)"
                        )
                    header = message.header
                    if header.WhichOneof("target") == "create":
                        c = header.create
                        video_id = await self.engine.create_upload(
                            owner, c.title, c.filename, c.content_type, c.expected_size_bytes
                        )
                    elif header.WhichOneof("target") == "resume_video_id":
                        video_id = header.resume_video_id
                    else:
                        raise InvalidArgument("the header must either create an upload or name one to resume")
                    stream = await self.engine.open_stream(owner, video_id)
                    continue
                if kind != "chunk":
                    raise InvalidArgument("only the first message of Upload may be a header")
                await stream.add(incoming(message.chunk))
            if stream is None:
                raise InvalidArgument("Upload received no messages: send a header, then chunks")
            duplicates = await stream.finish()
        except BaseException:
            if stream is not None:
                await stream.close()
            raise
        state = await self.engine.upload_state(owner, video_id)
        return ingest_pb2.UploadResponse(video_id=video_id, state=state_message(state), duplicate_chunks=duplicates)
