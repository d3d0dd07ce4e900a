"""Authentication at every service: each bad credential is UNAUTHENTICATED, and nothing is written."""

from __future__ import annotations

import grpc
import pytest

from recorder.v1 import catalog_pb2, ingest_pb2, media_pb2, media_pb2_grpc
from tests import forged_tokens
from tests.helpers import chunk, user

ALICE = user("alice")


def files_under(root) -> list:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def public_calls(stack, video_id: str):
    """One public call per service, as the given metadata."""
    return {
        "ingest.CreateUpload": lambda md: stack.ingest.CreateUpload(
            ingest_pb2.CreateUploadRequest(title="x"), metadata=md, timeout=10
        ),
        "ingest.PutChunk": lambda md: stack.ingest.PutChunk(
            ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(0, b"evil", is_last=True)),
            metadata=md,
            timeout=10,
        ),
        "catalog.ListVideos": lambda md: stack.catalog.ListVideos(
            catalog_pb2.ListVideosRequest(), metadata=md, timeout=10
        ),
        "media.ProcessVideo": lambda md: media_pb2_grpc.MediaServiceStub(stack.channel(stack.media_port)).ProcessVideo(
            media_pb2.ProcessVideoRequest(video_id=video_id), metadata=md, timeout=10
        ),
    }


@pytest.mark.one_database
@pytest.mark.parametrize("case", sorted(forged_tokens.BAD_CREDENTIALS))
async def test_bad_credentials_are_unauthenticated_at_every_service(stack, case):
    video_id = (
        await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title="mine"), metadata=ALICE, timeout=10)
    ).video_id
    before = files_under(stack.storage_root)
    header = forged_tokens.bad_authorization(case)  # made now: its times are relative to this call
    metadata = () if header is None else (("authorization", header),)
    for name, call in public_calls(stack, video_id).items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(metadata)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, f"{name}: {caught.value.details()}"
        assert caught.value.details(), name  # a message a person can act on
    assert files_under(stack.storage_root) == before
    listed = await stack.catalog.ListVideos(catalog_pb2.ListVideosRequest(), metadata=ALICE, timeout=10)
    assert [v.video_id for v in listed.videos] == [video_id]
    state = await stack.ingest.GetUploadState(
        ingest_pb2.GetIngestUploadStateRequest(video_id=video_id), metadata=ALICE, timeout=10
    )
    assert state.state.received_chunks == 0


async def test_a_service_token_cannot_act_as_a_user_without_naming_one(stack):
    from recorder_common.auth import ServiceTokenSigner
    from tests.conftest import AUTH

    service = (("authorization", f"Bearer {ServiceTokenSigner(AUTH, 'ingest').token()}"),)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stack.catalog.ListVideos(catalog_pb2.ListVideosRequest(), metadata=service, timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_user_tokens_never_open_internal_rpcs(stack):
    for call in (
        stack.catalog.CreateVideo(catalog_pb2.CreateVideoRequest(title="x"), metadata=ALICE, timeout=10),
        stack.catalog.ExpireStaleUploads(catalog_pb2.ExpireStaleUploadsRequest(), metadata=ALICE, timeout=10),
        stack.catalog.ListReadyWithChunks(catalog_pb2.ListReadyWithChunksRequest(), metadata=ALICE, timeout=10),
        stack.catalog.ForgetChunks(catalog_pb2.ForgetChunksRequest(video_id="0" * 32), metadata=ALICE, timeout=10),
        media_pb2_grpc.MediaServiceStub(stack.channel(stack.media_port)).ProcessVideo(
            media_pb2.ProcessVideoRequest(video_id="0" * 32), metadata=ALICE, timeout=10
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_on_behalf_of_means_nothing_next_to_a_user_token(stack):
    await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title="bob's"), metadata=user("bob"), timeout=10)
    spoof = ALICE + (("x-on-behalf-of", "bob"),)
    listed = await stack.catalog.ListVideos(catalog_pb2.ListVideosRequest(), metadata=spoof, timeout=10)
    assert listed.videos == []  # still alice, who has nothing
