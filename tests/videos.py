"""Videos made for a test: READY through a running stack, or straight in the catalog (rows only,
no media). Shared by several test modules; not a test module itself."""

from __future__ import annotations

from catalog_service.catalog import Catalog
from catalog_service.chunk_rules import StoredChunk
from catalog_service.statuses import FAILED, READY
from recorder.v1 import common_pb2
from recorder_common.auth import ServiceTokenSigner
from tests.conftest import AUTH
from tests.helpers import upload_unary, user, wait_final

OWNER = "alice"


async def ready_video(stack, recording, owner: str, title: str = "t") -> common_pb2.Video:
    video_id = await upload_unary(stack, recording.read_bytes(), user(owner), title=title)
    video = await wait_final(stack, video_id, user(owner))
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    return video


def service(owner: str | None = None):
    """Metadata of a call from the ingest service, acting for owner when given."""
    md = (("authorization", f"Bearer {ServiceTokenSigner(AUTH, 'ingest').token()}"),)
    return md + ((("x-on-behalf-of", owner),) if owner else ())


async def new_video(catalog: Catalog, owner: str = OWNER) -> str:
    return (await catalog.create_video(owner, "demo", "demo.webm", "video/webm", 0)).id


async def make_ready(catalog: Catalog, video_id: str, owner: str = OWNER, fail: bool = False) -> None:
    await catalog.record_chunks(owner, video_id, [StoredChunk(0, 10, 1, True, "t0")])
    claimed, _ = await catalog.claim_processing(owner, video_id, "worker-1", 60)
    assert claimed
    if fail:
        await catalog.finish_processing(owner, video_id, "worker-1", FAILED, "PROBE", "not a recording")
        return
    await catalog.put_asset(owner, video_id, "COMPRESSED", f"users/{owner}/videos/{video_id}/c.mp4", "video/mp4", 1234)
    await catalog.put_asset(owner, video_id, "THUMBNAIL", f"users/{owner}/videos/{video_id}/t.jpg", "image/jpeg", 99)
    await catalog.finish_processing(owner, video_id, "worker-1", READY, None, None)
