"""Many uploads at once into one ingest service: throughput, chunk ack latency, peak memory.

    .venv/bin/python bench/concurrency.py [--uploads 1,8,32] [--mib-each 16] [--pace-mbit 8]

Each upload is its own client sending 1 MiB PutChunk calls one after another (as a browser tab
does), all uploads at the same time against one stack of real service processes (SQLite catalog,
local storage). By default each client sends back to back: a stress test of the service's
capacity. With --pace-mbit each client sends its chunks at a recording's pace (8 Mbit/s: one
1 MiB chunk a second, about twice what Chrome's MediaRecorder makes of a busy 1080p screen), as
users recording at the same time do. Printed per N: aggregate MiB/s, p50 and p99 chunk ack
latency, errors, and the peak RSS (VmHWM) of each service over the run. The N=1 row is the
baseline for the others.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import random
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402

from bench._stack import BenchStack, chunk_request, percentile  # noqa: E402
from recorder.v1 import ingest_pb2, ingest_pb2_grpc  # noqa: E402
from recorder_common.serving import message_options  # noqa: E402

MiB = 1024 * 1024


async def one_upload(stub, md, chunks: list[bytes], latencies: list[float], pace_mbit: float) -> None:
    video_id = (
        await stub.CreateUpload(
            ingest_pb2.CreateUploadRequest(title="bench", content_type="application/octet-stream"),
            metadata=md,
            timeout=30,
        )
    ).video_id
    if pace_mbit:  # recordings start at different moments
        await asyncio.sleep(random.uniform(0, len(chunks[0]) * 8 / (pace_mbit * 1e6)))
    begun = time.perf_counter()
    for i, data in enumerate(chunks):
        if pace_mbit:  # this chunk exists once the recording has made its bytes
            due = begun + (i + 1) * len(data) * 8 / (pace_mbit * 1e6)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        started = time.perf_counter()
        await stub.PutChunk(chunk_request(video_id, i, data, i == len(chunks) - 1), metadata=md, timeout=60)
        latencies.append(time.perf_counter() - started)


async def run(n: int, mib_each: int, folder: pathlib.Path, pace_mbit: float) -> dict:
    stack = BenchStack(folder / f"n{n}").start()
    try:
        chunks = [os.urandom(MiB) for _ in range(mib_each)]
        latencies: list[float] = []
        async with grpc.aio.insecure_channel(stack.target("ingest"), options=message_options(8 * MiB)) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            # One token per user: N different users, as N browser tabs would be.
            users = [stack.metadata(f"user{i}") for i in range(n)]
            started = time.perf_counter()
            outcomes = await asyncio.gather(
                *(one_upload(stub, users[i], chunks, latencies, pace_mbit) for i in range(n)), return_exceptions=True
            )
            elapsed = time.perf_counter() - started
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        return {
            "n": n,
            "mib_s": n * mib_each / elapsed,
            "p50": percentile(latencies, 50) * 1000,
            "p99": percentile(latencies, 99) * 1000,
            "errors": len(errors),
            "first_error": repr(errors[0])[:200] if errors else "",
            "rss": stack.peak_rss(),
        }
    finally:
        stack.stop()


async def main_async(args) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n in [int(x) for x in args.uploads.split(",")]:
            rows.append(await run(n, args.mib_each, pathlib.Path(folder), args.pace_mbit))
    base = rows[0]["mib_s"]
    pace = f"each at {args.pace_mbit:g} Mbit/s" if args.pace_mbit else "each back to back"
    print(f"{args.mib_each} MiB per upload in 1 MiB PutChunk calls, {pace}, all uploads at once; one ingest process")
    print(
        f"{'uploads':>7} {'MiB/s':>7} {'vs N=' + str(rows[0]['n']):>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
        f"{'ingest RSS':>10} {'catalog RSS':>11} {'media RSS':>9}"
    )
    for r in rows:
        print(
            f"{r['n']:>7} {r['mib_s']:>7.0f} {r['mib_s'] / base:>8.2f} {r['p50']:>7.1f} {r['p99']:>7.1f} "
            f"{r['errors']:>6} {r['rss']['ingest']:>9.0f}M {r['rss']['catalog']:>10.0f}M {r['rss']['media']:>8.0f}M"
        )
        if r["errors"]:
            print(f"        first error: {r['first_error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", default="1,8,32")
    parser.add_argument("--mib-each", type=int, default=16)
    parser.add_argument("--pace-mbit", type=float, default=0.0, help="send at a recording's pace (0: back to back)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
