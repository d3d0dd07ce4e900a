"""Every Prometheus metric of the services, in one place, and the RPC interceptor that times calls.

Each service serves its process's registry on METRICS_PORT (0, the default, serves nothing) at
METRICS_HOST (127.0.0.1 unless set): metrics name videos by count only, never by id or owner,
so label values stay few (service, method, code, step, outcome, reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import logging
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import grpc
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from recorder_common.errors import Reason
from recorder_common.rpc import HandlerInterceptor, rewrap_handler

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("recorder.metrics")

# Latency buckets from 1 ms (a cached catalog answer) to 1 min (a long stream or a slow step).
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_STEP_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)

RPC_REQUESTS = Counter(
    "recorder_rpc_requests", "RPCs served, by service, method and status code", ["service", "method", "code"]
)
RPC_SECONDS = Histogram(
    "recorder_rpc_duration_seconds",
    "Time to serve an RPC (a stream: its whole life)",
    ["service", "method", "code"],
    buckets=_SECONDS,
)

CHUNKS_INGESTED = Counter("recorder_chunks_ingested", "Chunks newly stored (acknowledged, not duplicates)")
BYTES_INGESTED = Counter("recorder_ingested_bytes", "Bytes of chunks newly stored")
UPLOADS_STARTED = Counter("recorder_uploads_started", "Uploads created")
UPLOADS_COMPLETED = Counter("recorder_uploads_completed", "Uploads whose last chunk completed them")
UPLOADS_ABORTED = Counter("recorder_uploads_aborted", "Uploads aborted by their owner")
CHUNK_WRITE_SECONDS = Histogram(
    "recorder_chunk_write_seconds", "Time to write and fsync one chunk's bytes", buckets=_SECONDS
)
CHUNK_RECORD_SECONDS = Histogram(
    "recorder_chunk_record_seconds", "Time for the catalog to record a request's chunks (one RPC)", buckets=_SECONDS
)
CHUNK_GROUP_SIZE = Histogram(
    "recorder_chunk_group_requests",
    "Record requests the catalog wrote in one group-commit transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
QUOTA_REFUSALS = Counter("recorder_quota_refusals", "Requests refused with RESOURCE_EXHAUSTED, by reason", ["reason"])
STEP_SECONDS = Histogram(
    "recorder_processing_step_seconds",
    "Duration of a processing step, by step and outcome",
    ["step", "outcome"],
    buckets=_STEP_SECONDS,
)
LIVE_THUMBNAILS = Counter(
    "recorder_live_thumbnails",
    "Thumbnails made while a recording arrives, by outcome (made, empty, failed)",
    ["outcome"],
)
# Where the time between a job's start and MarkReady goes (queued: waiting for a slot and the
# claim; then each step; finish: MarkReady committed), for the stop -> READY promise.
READY_PHASE_SECONDS = Histogram(
    "recorder_ready_phase_seconds",
    "Time of each phase between a processing job's submission and its video's MarkReady",
    ["phase"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
WATCH_STREAMS = Gauge("recorder_watch_streams", "WatchVideo streams open on this catalog")
LIVE_ENCODES_BEHIND = Counter(
    "recorder_live_encodes_behind", "Live encodes that fell behind real time, by what the policy did", ["action"]
)
RENDITIONS_FINISHED = Counter(
    "recorder_renditions_finished", "Rendition encodes ended, by kind, path and state", ["kind", "path", "state"]
)
LIVE_SESSIONS = Gauge("recorder_live_sessions", "Live encode sessions running on this media service")
EVENT_STREAMS = Gauge("recorder_event_streams", "WatchEvents streams open on this catalog")
WEBHOOK_ATTEMPTS = Counter(
    "recorder_webhook_attempts", "Webhook delivery attempts, by outcome (delivered, retry, dead)", ["outcome"]
)
WEBHOOK_BACKLOG = Gauge(
    "recorder_webhook_backlog",
    "Webhook deliveries pending or in flight, as this catalog's dispatcher last counted them",
)

QUEUE_DEPTH = Gauge(
    "recorder_queue_depth", "Requests waiting for a slot, by work kind (processing, on_demand, ffmpeg_memory)", ["kind"]
)
QUEUE_WAIT_SECONDS = Histogram(
    "recorder_queue_wait_seconds",
    "Time a request waited for its slot, by work kind",
    ["kind"],
    buckets=(0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0),
)
LIVE_LAG_SECONDS = Histogram(
    "recorder_live_encode_lag_seconds",
    "How far a live encode runs behind the media that has arrived (seconds of media), at each check of its policy",
    buckets=(0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0),
)
LIVE_LAG_MAX = Gauge(
    "recorder_live_encode_lag_max_seconds",
    "The largest lag behind real time of the live encodes running now (0 with none)",
)
FFMPEG_PEAK_MEMORY = Histogram(
    "recorder_ffmpeg_peak_memory_bytes",
    "Peak resident memory of each ffmpeg run (VmHWM, sampled while it runs)",
    buckets=tuple(float(m << 20) for m in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)),
)
RENDITION_BACKLOG = Gauge(
    "recorder_rendition_backlog",
    "Renditions queued (PENDING) or being encoded (PROCESSING), as the catalog last counted them",
    ["state"],
)
PROCESSING_BACKLOG = Gauge(
    "recorder_processing_backlog",
    "Videos waiting for a media worker (UPLOADED, or "
    "PROCESSING under a lapsed lease), as the catalog last counted them",
)

_watch_hubs: weakref.WeakSet[Any] = weakref.WeakSet()
_queues: dict[str, weakref.WeakSet[Any]] = {}
_event_feeds: weakref.WeakSet[Any] = weakref.WeakSet()
_live_pools: weakref.WeakSet[Any] = weakref.WeakSet()
_live_encoders: weakref.WeakSet[Any] = weakref.WeakSet()
# Gauges read the objects that own the state when scraped, so no code path can forget a decrement.
WATCH_STREAMS.set_function(lambda: sum(hub.open_streams() for hub in list(_watch_hubs)))
LIVE_SESSIONS.set_function(lambda: sum(len(pool.sessions) for pool in list(_live_pools)))
EVENT_STREAMS.set_function(lambda: sum(feed.open_streams() for feed in list(_event_feeds)))


def _live_lag_max() -> float:
    return max((lag for encoders in list(_live_encoders) for lag in list(encoders.lags.values())), default=0.0)


LIVE_LAG_MAX.set_function(_live_lag_max)


def track_queue(kind: str, queue: Any) -> None:
    """Count this queue's waiters (its `waiting()`) in recorder_queue_depth{kind} (held weakly)."""
    if kind not in _queues:
        queues = _queues[kind] = weakref.WeakSet()
        QUEUE_DEPTH.labels(kind=kind).set_function(lambda: sum(q.waiting() for q in list(queues)))
    _queues[kind].add(queue)


def track_event_feed(feed: Any) -> None:
    """Count this feed's open streams in recorder_event_streams (held weakly)."""
    _event_feeds.add(feed)


def track_watch_hub(hub: Any) -> None:
    """Count this hub's open streams in recorder_watch_streams (held weakly)."""
    _watch_hubs.add(hub)


def track_live_encoders(encoders: Any) -> None:
    """Read these live encoders' lags (their `lags` mapping) for recorder_live_encode_lag_max_seconds."""
    _live_encoders.add(encoders)


def track_live_sessions(pool: Any) -> None:
    """Count this pool's sessions (its `sessions` mapping) in recorder_live_sessions (held weakly)."""
    _live_pools.add(pool)


# The limit each quota refusal stands for: recorder_quota_refusals' label (kept as it was before
# refusals carried ErrorInfo reasons, so dashboards stay valid).
QUOTA_LABELS = {
    Reason.UPLOAD_TOO_LARGE: "upload_bytes",
    Reason.CHUNK_TOO_LARGE: "chunk_bytes",
    Reason.TOO_MANY_CHUNKS: "chunk_count",
    Reason.QUOTA_EXCEEDED: "user_quota",
    Reason.TOO_MANY_OPEN_UPLOADS: "open_uploads",
    Reason.RETRIES_EXHAUSTED: "processing_retries",
    Reason.TOO_MANY_WATCH_STREAMS: "watch_streams",
}


def refused(reason: Reason) -> None:
    """Count a RESOURCE_EXHAUSTED refusal of a limit (others, such as a relayed one, are not)."""
    label = QUOTA_LABELS.get(reason)
    if label is not None:
        QUOTA_REFUSALS.labels(reason=label).inc()


def count_stored(sizes: list[int]) -> None:
    CHUNKS_INGESTED.inc(len(sizes))
    BYTES_INGESTED.inc(sum(sizes))


def timed_step(step: str) -> Callable[[F], F]:
    """Decorates an async pipeline step: its duration goes to recorder_processing_step_seconds with
    outcome ok, failed (a DomainError or StepFailed: the input's fault), cancelled or error."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        async def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            outcome = "error"
            try:
                result = await func(*args, **kwargs)
                outcome = "ok"
                return result
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            except Exception as exc:
                outcome = "failed" if hasattr(exc, "step") or hasattr(exc, "code") else "error"
                raise
            finally:
                STEP_SECONDS.labels(step=step, outcome=outcome).observe(time.perf_counter() - started)

        return run  # type: ignore[return-value]  # same signature: functools.wraps

    return decorate


# ---- the RPC interceptor ---------------------------------------------------------------------


def split_method(full_method: str) -> tuple[str, str]:
    """'/recorder.v1.IngestService/PutChunk' -> ('recorder.v1.IngestService', 'PutChunk')."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


def _code_name(context: Any, exc: BaseException | None) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    code = context.code() if hasattr(context, "code") else None
    if code is None or code == 0:
        return "OK" if exc is None else "UNKNOWN"
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    # grpc.aio keeps the code as the raw integer once set by abort()
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return str(status.name)
    return "UNKNOWN"


class MetricsInterceptor(HandlerInterceptor):
    """Outermost interceptor: counts and times every RPC a handler exists for, by its final status
    (after the inner interceptors turned errors into statuses)."""

    def wrap(self, handler: Any, details: grpc.HandlerCallDetails) -> Any:
        service, method = split_method(details.method)

        @contextlib.contextmanager
        def observed(context: Any) -> Iterator[None]:
            started, exc = time.perf_counter(), None
            try:
                yield
            except BaseException as e:
                exc = e
                raise
            finally:
                code = _code_name(context, exc)
                RPC_REQUESTS.labels(service, method, code).inc()
                RPC_SECONDS.labels(service, method, code).observe(time.perf_counter() - started)

        def unary_response(inner: Any, streaming_request: bool) -> Any:
            async def handle(request: Any, context: Any) -> Any:
                with observed(context):
                    result = inner(request, context)
                    return await result if inspect.isawaitable(result) else result

            return handle

        def stream_response(inner: Any, streaming_request: bool) -> Any:
            async def handle(request: Any, context: Any) -> Any:
                with observed(context):
                    async for response in inner(request, context):
                        yield response

            return handle

        return rewrap_handler(handler, unary_response, stream_response)


# ---- serving /metrics -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MetricsSettings:
    port: int = 0  # 0: no metrics endpoint
    host: str = "127.0.0.1"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "MetricsSettings":
        return cls(port=int(env.get("METRICS_PORT", cls.port)), host=env.get("METRICS_HOST", cls.host))


_serving = False


def server_interceptors() -> list[grpc.aio.ServerInterceptor]:
    """The RPC interceptor, when this process serves /metrics (nobody reads it otherwise)."""
    return [MetricsInterceptor()] if _serving else []


def serve_metrics(settings: MetricsSettings, registry: CollectorRegistry = REGISTRY) -> int | None:
    """Serve /metrics from a background thread; returns the port, or None when turned off.
    Call it before the gRPC server is made, so the server gets the RPC interceptor."""
    global _serving
    if settings.port <= 0:
        return None
    _serving = True
    server, _thread = start_http_server(settings.port, addr=settings.host, registry=registry)
    port = server.server_address[1]
    log.info("metrics on http://%s:%d/metrics", settings.host, port)
    return port


def serve_metrics_from_env(env: Mapping[str, str]) -> int | None:
    return serve_metrics(MetricsSettings.from_env(env))
