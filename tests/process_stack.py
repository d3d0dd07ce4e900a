"""The services as real OS processes (python -m ...), for fault tests that kill -9 one of them."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.helpers import TEST_KEYS, token

MODULES = {"catalog": "catalog_service", "media": "media_service", "ingest": "ingest_service"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                if (
                    stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    == health_pb2.HealthCheckResponse.SERVING
                ):
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"service on {port} not healthy within {timeout} s")
            time.sleep(0.1)


class ProcessStack:
    """catalog, media and ingest as processes; replicas={"media": 2} adds "media-2" and so on
    (each on its own port; ingest is given every media replica's address)."""

    def __init__(
        self,
        database_url: str,
        root: pathlib.Path,
        extra_env: dict[str, str] | None = None,
        replicas: dict[str, int] | None = None,
    ) -> None:
        self.root = root
        self.storage_root = root / "storage"
        counts = {name: 1 for name in MODULES} | (replicas or {})
        self.instances = [name if k == 0 else f"{name}-{k + 1}" for name in MODULES for k in range(counts[name])]
        self.ports = {name: free_port() for name in self.instances}
        self.instance_env: dict[str, dict[str, str]] = {name: {} for name in self.instances}
        self.env = {
            **os.environ,
            **TEST_KEYS.env(),
            "DATABASE_URL": database_url,
            "STORAGE_ROOT": str(self.storage_root),
            "CATALOG_PORT": str(self.ports["catalog"]),
            "MEDIA_PORT": str(self.ports["media"]),
            "INGEST_PORT": str(self.ports["ingest"]),
            # Each media replica's playback server on a port of its own (0: any free one).
            "PLAYBACK_PORT": "0",
            "PLAYBACK_KEY_FILE": str(root / "playback.key"),
            "CATALOG_TARGET": f"127.0.0.1:{self.ports['catalog']}",
            "MEDIA_TARGET": ",".join(
                f"127.0.0.1:{self.ports[n]}" for n in self.instances if n.split("-")[0] == "media"
            ),
            **(extra_env or {}),
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, pathlib.Path] = {}

    def start(self, name: str) -> None:
        service = name.split("-")[0]
        log = self.root / f"{name}.log"
        self.logs[name] = log
        env = {**self.env, f"{service.upper()}_PORT": str(self.ports[name]), **self.instance_env[name]}
        with open(log, "ab") as out:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", MODULES[service]], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_healthy(self.ports[name])

    def start_all(self) -> "ProcessStack":
        for name in self.instances:
            self.start(name)
        return self

    def kill9(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for name in reversed(self.instances):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                codes[name] = process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes

    def target(self, name: str) -> str:
        return f"127.0.0.1:{self.ports[name]}"

    def cli_env(self, user: str) -> dict[str, str]:
        return {
            **self.env,
            "RECORDER_INGEST": self.target("ingest"),
            "RECORDER_CATALOG": self.target("catalog"),
            "RECORDER_TOKEN": token(user),
        }
