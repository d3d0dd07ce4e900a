"""One trace follows an upload through ingest, the catalog and media, with the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from recorder.v1 import common_pb2
from recorder_common import tracing
from recorder_common.logs import JsonFormatter
from tests.helpers import upload_unary, user, wait_final

ALICE = user("alice")


@pytest.fixture(scope="module")
def spans():
    # The process's provider is set once (the services' interceptors resolve it lazily).
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()


def in_trace(exporter: InMemorySpanExporter, trace_id: int) -> list:
    return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]


async def test_one_trace_spans_ingest_catalog_and_media_from_first_chunk_to_ready(stack, recording_3s, spans):
    with tracing.tracer.start_as_current_span("client upload") as root:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # what a browser or the CLI sends as traceparent
        md = ALICE + tuple(carrier.items())
        video_id = await upload_unary(stack, recording_3s.read_bytes(), md, chunk_size=256 * 1024)
        video = await wait_final(stack, video_id, md)
    assert video.status == common_pb2.VIDEO_STATUS_READY, video.error
    trace_id = root.get_span_context().trace_id

    # The media job's span ends just after READY is recorded: wait for it (generous bound).
    deadline = time.monotonic() + 60
    while not any(s.name == "media job" for s in in_trace(spans, trace_id)):
        assert time.monotonic() < deadline, "the media job's span never ended"
        await asyncio.sleep(0.1)
    names = {s.name for s in in_trace(spans, trace_id)}
    for rpc in (
        "/recorder.v1.IngestService/CreateUpload",
        "/recorder.v1.IngestService/PutChunk",
        "/recorder.v1.CatalogService/RecordChunks",
        "/recorder.v1.MediaService/ProcessVideo",
        "/recorder.v1.CatalogService/ClaimProcessing",
        "/recorder.v1.CatalogService/FinishProcessing",
    ):
        assert rpc in names, (rpc, sorted(names))
    job = next(s for s in in_trace(spans, trace_id) if s.name == "media job")
    assert job.attributes["recorder.video_id"] == video_id
    assert [link.context.trace_id for link in job.links] == [trace_id]  # linked to the hand-off
    finish = next(
        s
        for s in in_trace(spans, trace_id)
        if s.name == "/recorder.v1.CatalogService/FinishProcessing" and s.kind == trace.SpanKind.SERVER
    )
    # READY was recorded under the job: the catalog's span descends from the job's span.
    by_id = {s.context.span_id: s for s in in_trace(spans, trace_id)}
    ancestors, span = set(), finish
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        ancestors.add(span.name)
    assert "media job" in ancestors


def test_every_json_log_line_carries_the_trace_id(spans):
    formatter = JsonFormatter("test")
    record = logging.LogRecord("recorder.test", logging.INFO, __file__, 1, "hello", None, None)
    assert json.loads(formatter.format(record))["trace_id"] is None  # outside any span
    with tracing.tracer.start_as_current_span("work") as span:
        line = json.loads(formatter.format(record))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")


def test_the_otlp_exporter_is_only_set_by_otel_variables():
    assert not tracing.exporter_wanted({})
    assert tracing.exporter_wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"})
    assert tracing.exporter_wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4317"})
    assert tracing.exporter_wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not tracing.exporter_wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317"})
    assert not tracing.exporter_wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
