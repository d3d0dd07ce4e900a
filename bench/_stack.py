"""The services as real processes on free ports, for the bench scripts (devstack's harness: SQLite
and local storage in a temporary folder, development keys, optionally Envoy in front; S3 storage in
a SeaweedFS on loopback when asked), and the readouts the benches share."""

from __future__ import annotations

import asyncio
import os
import pathlib
import sys
import threading
import time
import urllib.request

import google_crc32c

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devauth.keys import ensure_keys  # noqa: E402
from devstack.harness import MODULES, Processes, free_port, wait_healthy, wiring_env  # noqa: E402
from devstack.seaweed import SeaweedS3  # noqa: E402
from recorder.v1 import ingest_pb2  # noqa: E402
from recorder_common.defaults import MiB  # noqa: E402

__all__ = ["MODULES", "ROOT", "BenchStack", "MiB", "chunk_request", "free_port", "storage_env", "wait_healthy"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_peak_mib(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), MiB."""
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: with few values the p99 is the largest, never an interpolated figure."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _stat_fields(pid: int) -> list[str]:
    text = pathlib.Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the name may hold spaces and parentheses


def descendants(pid: int) -> list[int]:
    """Every live process below pid (ffmpeg and its sandbox wrapper, for the media service)."""
    children: dict[int, list[int]] = {}
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, ValueError, IndexError):
                pass  # gone meanwhile
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its children, reaped (cutime, cstime) and still running."""
    fields = _stat_fields(pid)
    total = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    for child in descendants(pid):
        try:
            total += sum(int(x) for x in _stat_fields(child)[11:15])
        except (OSError, IndexError):
            pass
    return total / CLOCK_TICKS


def tree_rss_mib(pid: int) -> float:
    total = 0
    for each in [pid, *descendants(pid)]:
        try:
            for line in pathlib.Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class TreeMeter:
    """Peak resident memory of each process together with its children (ffmpegs included), sampled
    every `interval` seconds in a thread, and CPU seconds since start()."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5) -> None:
        self.pids, self.interval = pids, interval
        self.peak = {name: 0.0 for name in pids}
        self._cpu_at_start: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], tree_rss_mib(pid))

    def start(self) -> "TreeMeter":
        self._cpu_at_start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._thread.start()
        return self

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) - self._cpu_at_start[name] for name, pid in self.pids.items()}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def scrape_metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


async def create_upload(ingest, md, title: str = "bench") -> str:
    return (
        await ingest.CreateUpload(
            ingest_pb2.CreateUploadRequest(title=title, content_type="video/webm;codecs=vp8,opus"),
            metadata=md,
            timeout=30,
        )
    ).video_id


def chunk_request(video_id: str, index: int, data: bytes, is_last: bool) -> ingest_pb2.PutChunkRequest:
    """One chunk of an upload, with its CRC32C."""
    chunk = ingest_pb2.Chunk(index=index, data=data, crc32c=google_crc32c.value(data), is_last=is_last)
    return ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk)


async def send_chunks(
    ingest,
    md,
    video_id: str,
    data: bytes,
    seconds: float,
    pace: float | None,
    started: float | None = None,
    acks: list[float] | None = None,
) -> float:
    """The recording in 1 MiB PutChunk calls, the last flagged, one after another. With a pace,
    each chunk is sent once its bytes would exist in a recording made at `pace` times realtime that
    began at `started` (time.monotonic()); without, at full speed. Each ack's latency is appended
    to `acks`. Returns the time the last chunk was acknowledged."""
    parts = [data[i : i + MiB] for i in range(0, len(data), MiB)]
    started = time.monotonic() if started is None else started
    sent = 0
    for i, part in enumerate(parts):
        sent += len(part)
        if pace:
            due = started + sent / len(data) * seconds / pace
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        asked = time.monotonic()
        await ingest.PutChunk(chunk_request(video_id, i, part, i == len(parts) - 1), metadata=md, timeout=60)
        if acks is not None:
            acks.append(time.monotonic() - asked)
    return time.monotonic()


class BenchStack(Processes):
    """catalog, media and ingest on free ports, logs in the folder. env: settings for every
    service; service_env: for one service only (e.g. its METRICS_PORT), by MODULES name."""

    def __init__(
        self,
        folder: pathlib.Path,
        env: dict[str, str] | None = None,
        gateway: bool = False,
        service_env: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.keys = ensure_keys(folder / "auth")
        ports = {name: free_port() for name in MODULES}
        self.service_env = service_env or {}
        stack_env = {
            **os.environ,
            **self.keys.env(),
            **wiring_env(ports),
            "DATABASE_URL": f"sqlite:///{folder / 'catalog.sqlite3'}",
            "STORAGE_ROOT": str(folder / "storage"),
            "PLAYBACK_PORT": str(free_port()),
            "PLAYBACK_KEY_FILE": str(folder / "auth" / "playback.key"),
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        super().__init__(stack_env, ports, folder, self.service_env)
        self.gateway_port = free_port() if gateway else None

    def start(self) -> "BenchStack":
        self.start_all()
        if self.gateway_port:
            self.start_gateway(self.gateway_port)
        return self

    def metadata(self, user: str = "bench") -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.keys.mint(user, 24 * 3600)}"),)

    def peak_rss(self) -> dict[str, float]:
        return {name: rss_peak_mib(p.pid) for name, p in self.processes.items() if name in MODULES}

    def stop(self) -> None:
        self.stop_all()


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
