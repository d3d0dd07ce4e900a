"""Fault tests with real processes: kill -9 a service mid-work, restart it, lose nothing."""
from __future__ import annotations

import pathlib
import subprocess
import sys
import threading
import time

import grpc
import pytest

from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, ingest_pb2, ingest_pb2_grpc
from tests import media_tools
from tests.helpers import MiB, chunk, split, user
from tests.process_stack import ProcessStack

ALICE = user("alice")


def running_stack(database_url, tmp_path, **env):
    stack = ProcessStack(database_url, tmp_path, {"PROCESSING_LEASE_SECONDS": "3",
                                                   "PROCESSING_SWEEP_SECONDS": "1", **env})
    stack.start_all()
    yield stack
    codes = stack.stop_all()
    assert all(code == 0 for code in codes.values()), f"unclean shutdown: {codes}"


@pytest.fixture
def processes(database_url, tmp_path):
    yield from running_stack(database_url, tmp_path)


@pytest.fixture
def batch_processes(database_url, tmp_path):
    """Live processing off: compression is a step of its own after the upload."""
    yield from running_stack(database_url, tmp_path, MEDIA_MAX_LIVE_SESSIONS="0")


def get_video(stack: ProcessStack, video_id: str) -> common_pb2.Video:
    with grpc.insecure_channel(stack.target("catalog")) as channel:
        return catalog_pb2_grpc.CatalogServiceStub(channel).GetVideo(
            catalog_pb2.GetVideoRequest(video_id=video_id), metadata=ALICE, timeout=10).video


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def source_asset(stack: ProcessStack, video: common_pb2.Video) -> pathlib.Path:
    path = next(a.path for a in video.assets if a.kind == common_pb2.ASSET_KIND_SOURCE)
    return stack.storage_root / path


def test_kill9_ingest_mid_upload_then_cli_resumes_byte_identical(processes, recording_60s):
    data = recording_60s.read_bytes()
    parts = split(data, MiB)
    assert len(parts) >= 6
    with grpc.insecure_channel(processes.target("ingest")) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        video_id = stub.CreateUpload(ingest_pb2.CreateUploadRequest(title="crash", filename="r.webm",
                                                                    content_type="video/webm"),
                                     metadata=ALICE, timeout=10).video_id
        hold = threading.Event()

        def messages():
            yield ingest_pb2.UploadRequest(header=ingest_pb2.UploadHeader(resume_video_id=video_id))
            for i in range(3):
                yield ingest_pb2.UploadRequest(chunk=chunk(i, parts[i]))
            hold.wait(30)  # the stream stays open, mid-upload, until the service is killed

        errors = []

        def stream():
            try:
                stub.Upload(messages(), metadata=ALICE, timeout=60)
            except grpc.RpcError as exc:
                errors.append(exc.code())

        sender = threading.Thread(target=stream)
        sender.start()
        wait_for(lambda: get_video(processes, video_id).received_chunks == 3, 30, "3 chunks stored")
        processes.kill9("ingest")
        hold.set()
        sender.join(30)
    assert errors == [grpc.StatusCode.UNAVAILABLE]
    processes.start("ingest")
    result = subprocess.run(
        [sys.executable, "-m", "recorder_cli", "upload", str(recording_60s), "--resume", video_id],
        env=processes.cli_env("alice"), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"resuming: 3 of {len(parts)} chunks already stored, sending {len(parts) - 3}" in result.stderr
    video = get_video(processes, video_id)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert media_tools.sha256_file(source_asset(processes, video)) == media_tools.sha256_file(recording_60s)


def test_kill9_media_mid_processing_is_picked_up_after_restart(batch_processes, recording_60s):
    processes = batch_processes
    result = subprocess.run(
        [sys.executable, "-m", "recorder_cli", "upload", str(recording_60s), "--no-wait"],
        env=processes.cli_env("alice"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    video_id = result.stdout.split()[1]

    def compressing():
        video = get_video(processes, video_id)
        return (video.current_step == common_pb2.PROCESSING_STEP_COMPRESS and video.progress > 0.1)

    wait_for(compressing, 120, "compression under way")
    processes.kill9("media")
    # The kernel took its ffmpeg with it (PR_SET_PDEATHSIG): no orphan keeps encoding.
    time.sleep(0.5)
    orphans = subprocess.run(["pgrep", "-f", f"videos/{video_id}/original"], capture_output=True, text=True)
    assert orphans.stdout.strip() == ""
    assert get_video(processes, video_id).status == common_pb2.VIDEO_STATUS_PROCESSING
    processes.start("media")
    video = wait_for(lambda: (v := get_video(processes, video_id)).status in
                     (common_pb2.VIDEO_STATUS_READY, common_pb2.VIDEO_STATUS_FAILED) and v, 300, "READY")
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    attempts = [e.message for e in video.history if e.message.startswith("attempt")]
    assert len(attempts) == 2 and attempts[1].startswith("attempt 2")
    mp4 = processes.storage_root / next(
        a.path for a in video.assets if a.kind == common_pb2.ASSET_KIND_COMPRESSED)
    clean, seconds, errors = media_tools.decode_fully(mp4)
    assert clean, errors
    assert seconds == pytest.approx(video.media.duration_seconds, abs=0.1)
    # No temporary file of the killed worker is left behind.
    assert list(mp4.parent.glob(".*.tmp")) == []


def test_kill9_media_during_a_live_upload_loses_nothing(processes, recording_3s):
    """The media service dies while it follows an upload; the upload goes on, and the restarted
    service (from storage: a new live session or the batch path) makes a complete result."""
    data = recording_3s.read_bytes()
    parts = split(data, 32 * 1024)
    with grpc.insecure_channel(processes.target("ingest")) as channel:
        ingest = ingest_pb2_grpc.IngestServiceStub(channel)
        video_id = ingest.CreateUpload(ingest_pb2.CreateUploadRequest(content_type="video/webm"),
                                       metadata=ALICE, timeout=10).video_id
        for i, part in enumerate(parts):
            if i == len(parts) // 2:
                time.sleep(0.5)  # the live session has an ffmpeg running on the first half
                live = subprocess.run(["pgrep", "-f", f"videos/{video_id}/.original"], capture_output=True, text=True)
                assert live.stdout.strip(), "no live ffmpeg was following the upload"
                processes.kill9("media")
                time.sleep(0.5)
                orphans = subprocess.run(["pgrep", "-f", f"videos/{video_id}/"], capture_output=True, text=True)
                assert orphans.stdout.strip() == ""
                processes.start("media")
            ingest.PutChunk(ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, part, i == len(parts) - 1)),
                            metadata=ALICE, timeout=30)
    video = wait_for(lambda: (v := get_video(processes, video_id)).status in
                     (common_pb2.VIDEO_STATUS_READY, common_pb2.VIDEO_STATUS_FAILED) and v, 120, "READY")
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    assert source_asset(processes, video).read_bytes() == data
    assert list(source_asset(processes, video).parent.glob(".*.tmp")) == []
