"""Outputs count toward the owner's storage quota, through real servers and real ffmpeg: an
output the catalog refuses is dropped (processing fails with the reason, the file is deleted;
an on-demand request answers RESOURCE_EXHAUSTED)."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

import tests.conftest
from catalog_service.catalog import Catalog
from catalog_service.owners import bytes_in_use
from recorder.v1 import catalog_pb2, common_pb2, media_pb2, media_pb2_grpc
from recorder_common.errors import Reason, reason_of
from tests.conftest import start_stack
from tests.helpers import upload_unary, user, wait_final

ALICE = user("alice")


@pytest.fixture
async def quota_stack(database_url, tmp_path, monkeypatch):
    """The usual stack, with a handle on its catalog to set the quota (the catalog's own setting)."""
    made: list[Catalog] = []

    def catalog(*args, **kwargs) -> Catalog:
        made.append(Catalog(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tests.conftest, "Catalog", catalog)
    stack, stop = await start_stack(database_url, tmp_path / "storage")
    yield stack, made[0]
    await stop()


def set_quota(catalog: Catalog, quota: int) -> None:
    catalog.limits = dataclasses.replace(catalog.limits, user_quota_bytes=quota)


async def test_processing_fails_cleanly_when_an_output_would_exceed_the_quota(quota_stack, recording_3s):
    stack, catalog = quota_stack
    data = recording_3s.read_bytes()
    set_quota(catalog, len(data) + 1000)  # the upload fits; its remuxed copy does not
    vid = await upload_unary(stack, data, ALICE)
    video = await wait_final(stack, vid, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_FAILED
    assert video.error_step == common_pb2.PROCESSING_STEP_REMUX
    assert "storage quota" in video.error and "delete videos you no longer need" in video.error
    assert common_pb2.ASSET_KIND_ORIGINAL not in [a.kind for a in video.assets]
    names = [key.rsplit("/", 1)[-1] for key in stack.keys(f"users/alice/videos/{vid}/")]
    assert not [n for n in names if n.startswith("original")], names  # the refused file is gone


async def test_an_on_demand_output_over_the_quota_is_resource_exhausted(quota_stack, recording_3s):
    stack, catalog = quota_stack
    vid = await upload_unary(stack, recording_3s.read_bytes(), ALICE)
    video = await wait_final(stack, vid, ALICE)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    media = media_pb2_grpc.MediaServiceStub(stack.channel(stack.media_port))
    aac = (
        await media.ExtractAudio(
            media_pb2.ExtractAudioRequest(video_id=vid, format=media_pb2.AUDIO_FORMAT_AAC, bitrate_kbps=64),
            metadata=ALICE,
            timeout=120,
        )
    ).asset
    kept = stack.file(aac.path).read_bytes()
    async with catalog.sessions() as session:
        used = (await bytes_in_use(session, ["alice"]))["alice"]
    set_quota(catalog, used)  # full
    # A bigger replacement of a stored asset is refused, and the stored one stays as it was.
    with pytest.raises(grpc.aio.AioRpcError) as bigger:
        await media.ExtractAudio(
            media_pb2.ExtractAudioRequest(video_id=vid, format=media_pb2.AUDIO_FORMAT_AAC, bitrate_kbps=256),
            metadata=ALICE,
            timeout=120,
        )
    assert bigger.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stack.file(aac.path).read_bytes() == kept and len(kept) == aac.size_bytes
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await media.ExtractAudio(
            media_pb2.ExtractAudioRequest(video_id=vid, format=media_pb2.AUDIO_FORMAT_FLAC), metadata=ALICE, timeout=120
        )
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert reason_of(refused.value) == Reason.QUOTA_EXCEEDED  # the catalog's reason, relayed by media
    listed = (await stack.catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=vid), metadata=ALICE, timeout=10)).video
    assert common_pb2.ASSET_KIND_AUDIO_FLAC not in [a.kind for a in listed.assets]
    assert not [key for key in stack.keys(f"users/alice/videos/{vid}/") if key.endswith(".flac")]
