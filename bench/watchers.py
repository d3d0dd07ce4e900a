"""What open WatchVideo streams cost everyone else: another user's GetVideo latency, idle and with
many watch streams open, in one run against one real catalog process.

    .venv/bin/python bench/watchers.py [--streams 300] [--calls 200] [--rounds 3] [--postgres]

The catalog runs as its own process (python -m catalog_service) on a fresh SQLite file, or with
--postgres on a fresh database of the PostgreSQL at TEST_POSTGRES_ADMIN_URL (default
postgresql://postgres@127.0.0.1:5432/test). The watched videos stay UPLOADING, so the streams stay
open; each is a different video of one of --streams/10 users (10 streams each, under the per-user
cap). Each round measures idle, then opens the streams and measures again, then closes them, so
the machine's other load falls on both phases alike. Printed: GetVideo p50/p99 idle and with the
streams open over all rounds, their ratio, and the catalog's CPU use (CPU seconds per second).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402
import psycopg  # noqa: E402

from bench._stack import free_port, wait_healthy  # noqa: E402
from catalog_service import db  # noqa: E402
from catalog_service.catalog import Catalog  # noqa: E402
from devauth.keys import ensure_keys  # noqa: E402
from recorder.v1 import catalog_pb2, catalog_pb2_grpc  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
STREAMS_PER_USER = 10


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def get_video_latencies(stub, video_id: str, md, calls: int) -> list[float]:
    for _ in range(10):  # warm the channel and the server's caches
        await stub.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md, timeout=30)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        await stub.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md, timeout=30)
        latencies.append(time.perf_counter() - started)
    return latencies


async def measure(stub, video_id, md, calls, pid) -> tuple[list[float], float]:
    cpu, wall = cpu_seconds(pid), time.perf_counter()
    latencies = await get_video_latencies(stub, video_id, md, calls)
    return latencies, (cpu_seconds(pid) - cpu) / (time.perf_counter() - wall)


async def run(database_url: str, folder: pathlib.Path, streams: int, calls: int, rounds: int) -> None:
    await asyncio.to_thread(db.migrate, database_url)
    keys = ensure_keys(folder / "auth")
    port = free_port()
    env = {
        **os.environ,
        **keys.env(),
        "DATABASE_URL": database_url,
        "CATALOG_PORT": str(port),
        "CATALOG_MIGRATE_ON_START": "false",
        "LOG_LEVEL": "WARNING",
    }
    with open(folder / "catalog.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "catalog_service"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log
        )
    engine = db.create_engine(database_url)
    channels: list[grpc.aio.Channel] = []
    watchers: list[asyncio.Task] = []
    try:
        wait_healthy(port)
        catalog = Catalog(db.session_factory(engine))
        target = (await catalog.create_video("bob", "bob's", "b.webm", "video/webm", 0)).id
        tokens = {"bob": (("authorization", f"Bearer {keys.mint('bob', 3600)}"),)}
        channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(1 + (streams + 99) // 100)]
        stubs = [catalog_pb2_grpc.CatalogServiceStub(c) for c in channels]
        bob = stubs[0]
        idle: list[float] = []
        loaded: list[float] = []
        idle_cpu: list[float] = []
        loaded_cpu: list[float] = []
        # Rounds of idle then open, so the machine's other load falls on both phases alike.
        for round_ in range(rounds):
            users = [f"watcher{round_}-{i}" for i in range((streams + STREAMS_PER_USER - 1) // STREAMS_PER_USER)]
            tokens.update({u: (("authorization", f"Bearer {keys.mint(u, 3600)}"),) for u in users})
            watched = [
                (
                    (owner := users[i // STREAMS_PER_USER]),
                    (await catalog.create_video(owner, "watched", "w.webm", "video/webm", 0)).id,
                )
                for i in range(streams)
            ]
            await asyncio.sleep(1.0)  # the previous round's streams are torn down meanwhile

            latencies, cpu = await measure(bob, target, tokens["bob"], calls, process.pid)
            idle += latencies
            idle_cpu.append(cpu)

            opened = 0
            all_open = asyncio.Event()

            async def watch(stub, owner, video_id):
                nonlocal opened
                async for _ in stub.WatchVideo(
                    catalog_pb2.WatchVideoRequest(video_id=video_id), metadata=tokens[owner], timeout=3600
                ):
                    opened += 1
                    if opened == streams:
                        all_open.set()

            watchers = [
                asyncio.ensure_future(watch(stubs[1 + i // 100], owner, vid)) for i, (owner, vid) in enumerate(watched)
            ]
            await asyncio.wait_for(all_open.wait(), 300)
            latencies, cpu = await measure(bob, target, tokens["bob"], calls, process.pid)
            loaded += latencies
            loaded_cpu.append(cpu)
            failed = [t for t in watchers if t.done()]
            assert not failed, f"{len(failed)} watch streams ended early: {failed[0].exception()!r}"
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
            watchers = []
        idle_cpu_mean, loaded_cpu_mean = sum(idle_cpu) / rounds, sum(loaded_cpu) / rounds

        kind = database_url.split(":", 1)[0]
        ms = lambda v: f"{v * 1000:.1f} ms"  # noqa: E731
        print(f"catalog on {kind}, {rounds} rounds of {calls} sequential GetVideo calls by another user in each phase")
        print(
            f"  idle:               p50 {ms(percentile(idle, 50)):>9}  p99 {ms(percentile(idle, 99)):>9}  "
            f"catalog CPU {idle_cpu_mean:.2f} s/s"
        )
        print(
            f"  {streams} streams open: p50 {ms(percentile(loaded, 50)):>9}  "
            f"p99 {ms(percentile(loaded, 99)):>9}  catalog CPU {loaded_cpu_mean:.2f} s/s"
        )
        print(
            f"  ratio (open/idle):  p50 {percentile(loaded, 50) / percentile(idle, 50):.2f}x  "
            f"p99 {percentile(loaded, 99) / percentile(idle, 99):.2f}x"
        )
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for channel in channels:
            await channel.close()
        await engine.dispose()
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--calls", type=int, default=200, help="GetVideo calls per phase of a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="a fresh PostgreSQL database instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-watchers-") as tmp:
        folder = pathlib.Path(tmp)
        if not args.postgres:
            asyncio.run(run(f"sqlite:///{folder / 'catalog.sqlite3'}", folder, args.streams, args.calls, args.rounds))
            return
        admin = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
        name = f"bench_watchers_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            asyncio.run(run(f"{admin.rsplit('/', 1)[0]}/{name}", folder, args.streams, args.calls, args.rounds))
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
