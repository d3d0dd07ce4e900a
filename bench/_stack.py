"""The services as real processes on free ports, for the bench scripts (SQLite and local storage in
a temporary folder, development keys, optionally Envoy in front; S3 storage in a SeaweedFS on
loopback when asked)."""
from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devauth.keys import ensure_keys  # noqa: E402
from devstack.seaweed import SeaweedS3  # noqa: E402
from gateway.render import render  # noqa: E402

MODULES = {"catalog": "catalog_service", "media": "media_service", "ingest": "ingest_service"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing healthy on {port}")
            time.sleep(0.1)


def rss_peak_mib(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), MiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class BenchStack:
    def __init__(self, folder: pathlib.Path, env: dict[str, str] | None = None, gateway: bool = False,
                 service_env: dict[str, dict[str, str]] | None = None) -> None:
        self.service_env = service_env or {}
        self.folder = folder
        self.keys = ensure_keys(folder / "auth")
        self.ports = {name: free_port() for name in MODULES}
        self.gateway_port = free_port() if gateway else None
        self.env = {
            **os.environ, **self.keys.env(),
            "DATABASE_URL": f"sqlite:///{folder / 'catalog.sqlite3'}",
            "STORAGE_ROOT": str(folder / "storage"),
            "CATALOG_PORT": str(self.ports["catalog"]), "MEDIA_PORT": str(self.ports["media"]),
            "INGEST_PORT": str(self.ports["ingest"]),
            "PLAYBACK_PORT": str(free_port()), "PLAYBACK_KEY_FILE": str(folder / "auth" / "playback.key"),
            "CATALOG_TARGET": f"127.0.0.1:{self.ports['catalog']}",
            "MEDIA_TARGET": f"127.0.0.1:{self.ports['media']}",
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> "BenchStack":
        for name, module in MODULES.items():
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", module], env={**self.env, **self.service_env.get(name, {})}, cwd=ROOT,
                stdout=subprocess.DEVNULL, stderr=open(self.folder / f"{name}.log", "wb"))
            wait_healthy(self.ports[name])
        if self.gateway_port:
            config = self.folder / "envoy.yaml"
            config.write_text(render({**self.env, "GATEWAY_PORT": str(self.gateway_port)}))
            envoy = shutil.which("envoy", path=str(pathlib.Path(sys.executable).parent)) or "envoy"
            self.processes["envoy"] = subprocess.Popen(
                [envoy, "-c", str(config), "--log-level", "error", "--base-id", str(self.gateway_port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.gateway_port), 1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
        return self

    def target(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def metadata(self, user: str = "bench") -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.keys.mint(user, 24 * 3600)}"),)

    def peak_rss(self) -> dict[str, float]:
        return {name: rss_peak_mib(p.pid) for name, p in self.processes.items() if name in MODULES}

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def storage_env(kind: str, folder: pathlib.Path, servers: list) -> dict[str, str]:
    """Environment for one storage backend: "local" (the stack's folder) or "s3" (a SeaweedFS on
    loopback, started here and appended to servers so the caller stops it)."""
    if kind == "local":
        return {}
    if kind != "s3":
        raise ValueError(f"storage is local or s3, not {kind!r}")
    server = SeaweedS3(folder / "seaweed").start()
    servers.append(server)
    return {**server.env(), "SCRATCH_ROOT": str(folder / "scratch")}
