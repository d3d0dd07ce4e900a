"""OpenTelemetry traces: the SDK's provider, gRPC interceptors for both ends, and the media job's span.

Spans are always made (so every log line of an RPC carries its trace id, and W3C `traceparent`
flows through the internal calls); they leave the process only when the standard OTEL_* variables
ask for an exporter: OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, or
OTEL_TRACES_EXPORTER=otlp (OTEL_TRACES_EXPORTER=none, or OTEL_SDK_DISABLED=true, turns it off).
"""

from __future__ import annotations

import atexit
import collections
import contextvars
import logging

from collections.abc import Mapping
from typing import Any

import grpc

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

log = logging.getLogger("recorder.tracing")

tracer = trace.get_tracer("recorder")


def exporter_wanted(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").lower()
    if exporters == "none":
        return False
    return (
        "otlp" in exporters
        or bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
        or bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    )


def configure_tracing(service: str, env: Mapping[str, str]) -> TracerProvider | None:
    """The process's tracer provider (service.name from OTEL_SERVICE_NAME or recorder-<service>),
    exporting over OTLP/gRPC only when the environment asks for it; flushed at exit."""
    name = env.get("OTEL_SERVICE_NAME") or f"recorder-{service}"
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None  # the API's no-op spans: no ids in logs, no propagation, nothing recorded
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporter_wanted(env):
        # Imported here: the exporter pulls in its protobuf modules only when it is used.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # reads OTEL_EXPORTER_OTLP_*
        log.info("traces exported over OTLP as %s", name)
    trace.set_tracer_provider(provider)
    atexit.register(provider.shutdown)
    return provider


class _TracingInterceptor(grpc.aio.ServerInterceptor):
    """OpenTelemetry's aio server interceptor takes every streaming handler for an async
    generator; the health service's Watch writes with context.write instead, and broke under it.
    Health and reflection (open, infrastructure) go untraced; everything else is traced."""

    UNTRACED = ("/grpc.health.", "/grpc.reflection.")

    def __init__(self) -> None:
        self._otel = aio_server_interceptor()  # type: ignore[no-untyped-call]

    async def intercept_service(self, continuation: Any, handler_call_details: Any) -> Any:
        if handler_call_details.method.startswith(self.UNTRACED):
            return await continuation(handler_call_details)
        return await self._otel.intercept_service(continuation, handler_call_details)


def server_interceptor() -> grpc.aio.ServerInterceptor:
    return _TracingInterceptor()


def client_interceptors() -> list[Any]:
    interceptors: list[Any] = aio_client_interceptors()  # type: ignore[no-untyped-call]
    return interceptors


def current_ids() -> tuple[str | None, str | None]:
    """(trace id, span id) of the current span, hex, or (None, None) outside any span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


# ---- media jobs: queued by one RPC (or a sweep), run later by a worker task -----------------

_origins: collections.OrderedDict[str, trace.SpanContext] = collections.OrderedDict()
MAX_ORIGINS = 10_000


def remember_origin(video_id: str) -> None:
    """Called where a job is queued: the span that asked for it (the upload's hand-off)."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        _origins[video_id] = ctx
        _origins.move_to_end(video_id)
        while len(_origins) > MAX_ORIGINS:
            _origins.popitem(last=False)


def start_job(video_id: str) -> tuple[trace.Span, contextvars.Token[otel_context.Context]]:
    """Start the job's span and make it current; returns what end_job needs. A job queued by the
    upload's hand-off continues its trace (and links to it); one found by a sweep starts its own."""
    origin = _origins.pop(video_id, None)
    parent = trace.set_span_in_context(trace.NonRecordingSpan(origin)) if origin is not None else None
    links = [trace.Link(origin)] if origin is not None else []
    span = tracer.start_span("media job", context=parent, links=links, attributes={"recorder.video_id": video_id})
    token = otel_context.attach(trace.set_span_in_context(span))
    return span, token


def end_job(started: tuple[trace.Span, contextvars.Token[otel_context.Context]]) -> None:
    span, token = started
    otel_context.detach(token)
    span.end()
