"""Each service's /metrics, scraped from real processes after an upload reached READY."""

from __future__ import annotations

import time
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, ingest_pb2, ingest_pb2_grpc
from tests.helpers import chunk, create_upload_blocking, renditions_done, split, user
from tests.process_stack import ProcessStack, free_port

ALICE = user("alice")
KiB = 1024
STEPS = ("ASSEMBLE", "PROBE", "REMUX", "THUMBNAIL")  # what makes it READY; the encode is a rendition's


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value, from the text exposition at /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples, name: str, **labels) -> float:
    """The sum over samples of `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture
def metered(database_url, tmp_path):
    # Live processing off, so the batch steps run (and are timed) one after another.
    stack = ProcessStack(database_url, tmp_path, {"MEDIA_MAX_LIVE_SESSIONS": "0", "MAX_CHUNK_BYTES": str(512 * KiB)})
    stack.metrics_ports = {}
    for name in stack.instances:
        stack.metrics_ports[name] = free_port()
        stack.instance_env[name]["METRICS_PORT"] = str(stack.metrics_ports[name])
    stack.start_all()
    yield stack
    codes = stack.stop_all()
    assert all(code == 0 for code in codes.values()), f"unclean shutdown: {codes}"


def wait_ready(catalog, video_id: str, timeout: float = 180.0) -> common_pb2.Video:
    deadline = time.monotonic() + timeout
    while True:
        video = catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=ALICE, timeout=10).video
        if video.status == common_pb2.VIDEO_STATUS_FAILED or (
            video.status == common_pb2.VIDEO_STATUS_READY and renditions_done(video)
        ):
            return video
        assert time.monotonic() < deadline, f"video still {video.status} after {timeout} s"
        time.sleep(0.2)


def test_every_service_exposes_what_an_upload_did(metered, recording_3s):
    data = recording_3s.read_bytes()
    parts = split(data, 64 * KiB)
    assert len(parts) >= 3
    with (
        grpc.insecure_channel(metered.target("ingest")) as ingest_channel,
        grpc.insecure_channel(metered.target("catalog")) as catalog_channel,
    ):
        ingest = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
        video_id = create_upload_blocking(ingest, ALICE, title="metered", filename="r.webm")
        for i, part in enumerate(parts):
            ingest.PutChunk(
                ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, part, i == len(parts) - 1)),
                metadata=ALICE,
                timeout=30,
            )
        # One refusal on another upload: a chunk over MAX_CHUNK_BYTES (gRPC itself lets it in).
        other = create_upload_blocking(ingest, ALICE, title="too big", filename="r.webm")
        with pytest.raises(grpc.RpcError) as refused:
            ingest.PutChunk(
                ingest_pb2.PutChunkRequest(video_id=other, chunk=chunk(0, b"x" * (520 * KiB))),
                metadata=ALICE,
                timeout=30,
            )
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        video = wait_ready(catalog_pb2_grpc.CatalogServiceStub(catalog_channel), video_id)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error

    ingest_metrics = scrape(metered.metrics_ports["ingest"])
    assert value(ingest_metrics, "recorder_chunks_ingested_total") == len(parts)
    assert value(ingest_metrics, "recorder_ingested_bytes_total") == len(data)
    assert value(ingest_metrics, "recorder_uploads_started_total") == 2
    assert value(ingest_metrics, "recorder_uploads_completed_total") == 1
    assert value(ingest_metrics, "recorder_uploads_aborted_total") == 0
    assert value(ingest_metrics, "recorder_chunk_write_seconds_count") == len(parts)
    assert value(ingest_metrics, "recorder_chunk_record_seconds_count") == len(parts)
    put_chunk = {"service": "recorder.v1.IngestService", "method": "PutChunk"}
    assert value(ingest_metrics, "recorder_rpc_duration_seconds_count", **put_chunk, code="OK") == len(parts)
    assert value(ingest_metrics, "recorder_rpc_duration_seconds_bucket", **put_chunk, code="OK", le="+Inf") == len(
        parts
    )
    assert value(ingest_metrics, "recorder_rpc_requests_total", **put_chunk, code="RESOURCE_EXHAUSTED") == 1, [
        sorted(k[1]) for k in ingest_metrics if k[0] == "recorder_rpc_requests_total"
    ]
    assert value(ingest_metrics, "recorder_quota_refusals_total", reason="chunk_bytes") == 1

    catalog_metrics = scrape(metered.metrics_ports["catalog"])
    # Every PutChunk is one record request; group commit may put several in one transaction.
    assert value(catalog_metrics, "recorder_chunk_group_requests_sum") == len(parts)
    assert 1 <= value(catalog_metrics, "recorder_chunk_group_requests_count") <= len(parts)
    assert value(
        catalog_metrics,
        "recorder_rpc_duration_seconds_count",
        service="recorder.v1.CatalogService",
        method="RecordChunks",
        code="OK",
    ) == len(parts)
    assert value(catalog_metrics, "recorder_quota_refusals_total") == 0  # ingest refused it, not the catalog
    assert ("recorder_watch_streams", frozenset()) in catalog_metrics
    assert ("recorder_event_streams", frozenset()) in catalog_metrics
    assert ("recorder_processing_backlog", frozenset()) in catalog_metrics

    media_metrics = scrape(metered.metrics_ports["media"])
    for step in STEPS:
        assert value(media_metrics, "recorder_processing_step_seconds_count", step=step, outcome="ok") >= 1, step
    assert value(media_metrics, "recorder_processing_step_seconds_count", outcome="error") == 0
    assert ("recorder_live_sessions", frozenset()) in media_metrics
    assert ("recorder_live_encode_lag_max_seconds", frozenset()) in media_metrics
    # The job waited for a processing slot (at once: the queue was empty), and each ffmpeg run of
    # at least a moment had its peak memory sampled.
    assert value(media_metrics, "recorder_queue_wait_seconds_count", kind="processing") == 1
    assert value(media_metrics, "recorder_queue_depth", kind="processing") == 0
    assert value(media_metrics, "recorder_ffmpeg_peak_memory_bytes_count") >= 1
    assert value(media_metrics, "recorder_ffmpeg_peak_memory_bytes_sum") > 1 << 20
    # Each rendition was made once: the compressed one by a live encode or from the queue, the
    # storyboard from the queue.
    for kind in ("COMPRESSED", "STORYBOARD"):
        made = sum(
            v
            for (name, labels), v in media_metrics.items()
            if name == "recorder_renditions_finished_total" and {("state", "READY"), ("kind", kind)} <= labels
        )
        assert made == 1, kind


def test_no_metrics_endpoint_unless_a_port_is_given():
    from recorder_common.metrics import MetricsSettings, serve_metrics

    assert MetricsSettings.from_env({}).port == 0
    assert serve_metrics(MetricsSettings.from_env({})) is None
