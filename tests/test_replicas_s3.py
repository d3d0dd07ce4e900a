"""Two ingest and two media replicas as separate processes on the S3 backend (a real SeaweedFS),
sharing no disk: each media replica has its own scratch folder and nobody has STORAGE_ROOT."""

from __future__ import annotations

import uuid

import grpc
import obstore
import pytest

from recorder.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc
from recorder_common.storage import StorageSettings
from recorder_common.storage.s3 import ObjectStorage
from tests import media_tools
from tests.helpers import renditions_done, MiB, chunk, get_video, split, user, wait_for
from tests.process_stack import ProcessStack

ALICE = user("alice")
pytestmark = pytest.mark.s3  # every test here runs on a real SeaweedFS
FINAL = (common_pb2.VIDEO_STATUS_READY, common_pb2.VIDEO_STATUS_FAILED)


@pytest.fixture
def replicas(tmp_path, seaweed):
    env = {
        **seaweed.env(prefix=f"test-{uuid.uuid4().hex[:12]}"),
        "PROCESSING_LEASE_SECONDS": "3",
        "PROCESSING_SWEEP_SECONDS": "1",
        "MEDIA_MAX_LIVE_SESSIONS": "0",
    }
    stack = ProcessStack(f"sqlite:///{tmp_path / 'catalog.sqlite3'}", tmp_path, env, replicas={"ingest": 2, "media": 2})
    for name in ("media", "media-2"):
        stack.instance_env[name] = {"SCRATCH_ROOT": str(tmp_path / f"scratch-{name}"), "MEDIA_WORKER_ID": name}
    stack.store = ObjectStorage(StorageSettings.from_env(env))
    stack.start_all()
    yield stack
    codes = stack.stop_all()
    assert all(code == 0 for code in codes.values()), f"unclean shutdown: {codes}"
    assert not stack.storage_root.exists(), "a service wrote to local storage on the S3 backend"


def stored(stack, video: common_pb2.Video, kind: int) -> bytes:
    key = next(a.path for a in video.assets if a.kind == kind)
    return bytes(obstore.get(stack.store.store, key).bytes())


def upload_alternating(stack, data: bytes, chunk_size: int) -> str:
    parts = split(data, chunk_size)
    channels = [
        grpc.insecure_channel(stack.target(name), options=[("grpc.max_send_message_length", 8 * MiB)])
        for name in ("ingest", "ingest-2")
    ]
    try:
        stubs = [ingest_pb2_grpc.IngestServiceStub(c) for c in channels]
        video_id = (
            stubs[1]
            .CreateUpload(ingest_pb2.CreateUploadRequest(content_type="video/webm"), metadata=ALICE, timeout=10)
            .video_id
        )
        for i, part in enumerate(parts):
            ack = (
                stubs[i % 2]
                .PutChunk(
                    ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, part, i == len(parts) - 1)),
                    metadata=ALICE,
                    timeout=30,
                )
                .ack
            )
            assert ack.outcome == common_pb2.CHUNK_OUTCOME_STORED
        return video_id
    finally:
        for c in channels:
            c.close()


def test_chunks_alternating_between_ingest_replicas_reach_ready(replicas, recording_3s):
    data = recording_3s.read_bytes()
    video_id = upload_alternating(replicas, data, 32 * 1024)
    video = wait_for(lambda: (v := get_video(replicas, video_id, ALICE)).status in FINAL and v, 300, "READY")
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert stored(replicas, video, common_pb2.ASSET_KIND_SOURCE) == data
    # The chunks leave the bucket once the source holds every byte (right after READY is recorded).
    prefix = f"users/alice/videos/{video_id}/chunks/"
    wait_for(
        lambda: not [o for batch in obstore.list(replicas.store.store, prefix) for o in batch],
        30,
        "the chunks to be deleted",
    )


def test_kill9_the_media_replica_mid_job_and_the_other_finishes(replicas, recording_60s, tmp_path):
    """Mid-encode of the queued compressed rendition (the video READY already): the other replica
    takes the rendition over once the dead one's lease lapses."""
    video_id = upload_alternating(replicas, recording_60s.read_bytes(), MiB)

    def compressing():
        video = get_video(replicas, video_id, ALICE)
        compressed = video.renditions[0]
        return (
            video.status == common_pb2.VIDEO_STATUS_READY
            and compressed.state == common_pb2.RENDITION_STATE_PROCESSING
            and compressed.progress > 0.05
            and video
        )

    video = wait_for(compressing, 300, "compression under way")
    claims = [e.message for e in video.history if "compressed rendition PROCESSING: attempt" in e.message]
    holder = claims[-1].split(" by ")[1]
    assert holder in ("media", "media-2")
    replicas.kill9(holder)
    other = "media-2" if holder == "media" else "media"
    video = wait_for(
        lambda: renditions_done(v := get_video(replicas, video_id, ALICE)) and v, 600, "the compressed rendition"
    )
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert video.renditions[0].state == common_pb2.RENDITION_STATE_READY, video.renditions[0].error
    claims = [e.message for e in video.history if "compressed rendition PROCESSING: attempt" in e.message]
    assert claims[-2:] == [
        f"compressed rendition PROCESSING: attempt {len(claims) - 1} by {holder}",
        f"compressed rendition PROCESSING: attempt {len(claims)} by {other}",
    ], claims
    compressed = tmp_path / "compressed.mp4"
    compressed.write_bytes(stored(replicas, video, common_pb2.ASSET_KIND_COMPRESSED))
    clean, seconds, errors = media_tools.decode_fully(compressed)
    assert clean, errors
    assert seconds == pytest.approx(video.media.duration_seconds, abs=0.1)
    assert stored(replicas, video, common_pb2.ASSET_KIND_SOURCE) == recording_60s.read_bytes()
    # The survivor cleaned its scratch folder; the killed one's is all that may remain.
    assert not [p for p in (tmp_path / f"scratch-{other}").rglob("*") if p.is_file()]
