"""Server scaffolding shared by every service: health, reflection, message limits, SIGTERM, and
the one `main` each `python -m <service>` runs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from recorder_common import defaults, metrics, tracing
from recorder_common.auth import Authenticator, AuthSettings
from recorder_common.identity import IdentityInterceptor
from recorder_common.logs import configure_logging

log = logging.getLogger("recorder.serving")

# Headroom over the largest payload for the rest of the message and gRPC framing.
MESSAGE_OVERHEAD_BYTES = 64 * 1024


def message_options(max_payload_bytes: int) -> list[tuple[str, int]]:
    limit = max_payload_bytes + MESSAGE_OVERHEAD_BYTES
    return [
        ("grpc.max_receive_message_length", limit),
        ("grpc.max_send_message_length", limit),
    ]


def new_server(max_payload_bytes: int, authenticator: Authenticator) -> grpc.aio.Server:
    return grpc.aio.server(
        # Outermost first: metrics see the final status; the span is current while identity logs.
        interceptors=[*metrics.server_interceptors(), tracing.server_interceptor(), IdentityInterceptor(authenticator)],
        options=message_options(max_payload_bytes),
    )


def add_health_and_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> health.HealthServicer:
    names = list(service_names)
    health_servicer = health.aio.HealthServicer() if hasattr(health, "aio") else health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        names + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    return health_servicer


async def set_serving(health_servicer: Any, service_names: Iterable[str], serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *service_names]:
        result = health_servicer.set(name, status)
        if asyncio.iscoroutine(result):
            await result


def bind(server: grpc.aio.Server, host: str, port: int) -> int:
    bound: int = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"could not bind {host}:{port}")
    return bound


async def run_until_terminated(
    server: grpc.aio.Server,
    name: str,
    port: int,
    grace_seconds: float = 10.0,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop taking calls and let running ones finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    log.info("%s listening on port %d", name, port)
    print(f"{name} listening on port {port}", flush=True)
    await stop.wait()
    log.info("%s shutting down (grace %.0fs)", name, grace_seconds)
    if on_stop is not None:
        await on_stop()
    await server.stop(grace_seconds)


class ServerSettings(Protocol):
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def auth(self) -> AuthSettings: ...


async def create_server(
    service_name: str,
    add_servicer: Callable[[Any, grpc.aio.Server], None],
    servicer: Any,
    settings: ServerSettings,
    max_payload_bytes: int = defaults.MESSAGE_BYTES,
) -> tuple[grpc.aio.Server, int]:
    """A server with our interceptors, reflection and health (SERVING) for one servicer (with its
    generated add_*Servicer_to_server), bound to settings.host:port but not started."""
    server = new_server(max_payload_bytes, Authenticator(settings.auth))
    add_servicer(servicer, server)
    health_servicer = add_health_and_reflection(server, [service_name])
    await set_serving(health_servicer, [service_name], True)
    return server, bind(server, settings.host, settings.port)


@dataclasses.dataclass
class Running:
    """A service's bound server, and what to stop when SIGTERM comes, before the server stops
    taking calls (work that would otherwise start new calls, such as a worker's sweeps)."""

    server: grpc.aio.Server
    port: int
    on_stop: Callable[[], Awaitable[None]] | None = None


class ServiceSettings(Protocol):
    @property
    def log_level(self) -> str: ...


S = TypeVar("S", bound=ServiceSettings)


async def serve(name: str, service: contextlib.AbstractAsyncContextManager[Running]) -> None:
    """Serve until SIGTERM; the context manager builds the service's parts and closes them after."""
    async with service as running:
        await run_until_terminated(running.server, name, running.port, on_stop=running.on_stop)


def main(
    name: str,
    from_env: Callable[[Mapping[str, str]], S],
    start: Callable[[S], contextlib.AbstractAsyncContextManager[Running]],
) -> None:
    """python -m <service>: settings from the environment, logs, /metrics and traces, then serve."""
    settings = from_env(os.environ)
    configure_logging(name, settings.log_level)
    metrics.serve_metrics_from_env(os.environ)
    tracing.configure_tracing(name, os.environ)
    asyncio.run(serve(name, start(settings)))
