"""Ingest throughput for 1 MiB chunks on loopback, against a raw baseline measured in the same run.

    .venv/bin/python bench/ingest_throughput.py [--mib 256] [--repeat 3] [--storage local,s3]

Baseline: a plain TCP server (its own process) that receives the same chunks, checks each one's
CRC32C, writes it to its own file on the same disk and fsyncs it before acknowledging; the client
keeps sending while acknowledgements come back. Then the real services (separate processes,
SQLite catalog, local storage) take the same bytes as:
  - one client-streaming Upload RPC (what the CLI does);
  - unary PutChunk calls, one at a time and with 4 in flight (what the browser does);
  - gRPC-Web through Envoy (HTTP/1.1 POSTs, as a browser sends them), one at a time and 4 in flight.
With --storage local,s3 the service runs are repeated on the S3 backend (a SeaweedFS on loopback,
its data on the same disk). Runs are interleaved (each round times the baseline, then every path)
and each starts on a settled machine: the previous upload's processing finished and dirty pages
written out (os.sync), so no run pays for the one before it. Printed: MiB/s (median of --repeat
runs; the baseline's median over every round), the spread of the runs, the ratio to the
baseline, and for S3 rows the ratio to the same path on local storage.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import http.client
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import google_crc32c  # noqa: E402
import grpc  # noqa: E402

from bench._stack import BenchStack, storage_env, free_port  # noqa: E402
from devstack.harness import wait_listening  # noqa: E402
from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, ingest_pb2, ingest_pb2_grpc  # noqa: E402
from recorder_common.serving import message_options  # noqa: E402

MiB = 1024 * 1024
FINAL = (common_pb2.VIDEO_STATUS_READY, common_pb2.VIDEO_STATUS_FAILED)


# ---- baseline --------------------------------------------------------------------------------
async def baseline_server(port: int, folder: pathlib.Path) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = 0
        upload = folder / f"upload-{os.getpid()}-{time.monotonic_ns()}"
        upload.mkdir()
        while True:
            try:
                header = await reader.readexactly(8)
            except asyncio.IncompleteReadError:
                break
            length, crc = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")
            data = await reader.readexactly(length)
            ok = google_crc32c.value(data) == crc

            def store() -> None:
                path = upload / f"{index:010d}.chunk"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)

            await asyncio.to_thread(store)
            index += 1
            writer.write(b"\x01" if ok else b"\x00")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def baseline_client(port: int, chunks: list[bytes]) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()

    async def send() -> None:
        for data in chunks:
            writer.write(len(data).to_bytes(4, "big") + google_crc32c.value(data).to_bytes(4, "big"))
            writer.write(data)
            await writer.drain()

    sender = asyncio.ensure_future(send())
    acks = await reader.readexactly(len(chunks))
    await sender
    elapsed = time.perf_counter() - started
    writer.close()
    assert acks == b"\x01" * len(chunks)
    return elapsed


# ---- the services ----------------------------------------------------------------------------
def chunk(index: int, data: bytes, last: bool) -> ingest_pb2.Chunk:
    return ingest_pb2.Chunk(index=index, data=data, crc32c=google_crc32c.value(data), is_last=last)


CREATE = ingest_pb2.CreateUploadRequest(title="bench", content_type="application/octet-stream")


async def client_stream(stub, md, chunks: list[bytes]) -> float:
    started = time.perf_counter()

    async def messages():
        yield ingest_pb2.UploadRequest(header=ingest_pb2.UploadHeader(create=CREATE))
        for i, data in enumerate(chunks):
            yield ingest_pb2.UploadRequest(chunk=chunk(i, data, i == len(chunks) - 1))

    response = await stub.Upload(messages(), metadata=md, timeout=600)
    return time.perf_counter() - started, response.video_id


async def unary(stub, md, chunks: list[bytes], in_flight: int) -> float:
    video_id = (await stub.CreateUpload(CREATE, metadata=md, timeout=10)).video_id
    started = time.perf_counter()
    window = asyncio.Semaphore(in_flight)

    async def put(i: int, data: bytes) -> None:
        async with window:
            await stub.PutChunk(
                ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, data, i == len(chunks) - 1)),
                metadata=md,
                timeout=60,
            )

    # The last chunk goes after the others, as a client that flags it would send it.
    await asyncio.gather(*(put(i, d) for i, d in enumerate(chunks[:-1])))
    await put(len(chunks) - 1, chunks[-1])
    return time.perf_counter() - started, video_id


def grpc_web(port: int, md, chunks: list[bytes], in_flight: int, video_id: str) -> float:
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", **dict(md)}
    local = __import__("threading").local()

    def post(i: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = ingest_pb2.PutChunkRequest(
            video_id=video_id, chunk=chunk(i, chunks[i], i == len(chunks) - 1)
        ).SerializeToString()
        local.conn.request(
            "POST", "/recorder.v1.IngestService/PutChunk", b"\x00" + len(body).to_bytes(4, "big") + body, headers
        )
        response = local.conn.getresponse()
        payload = response.read()
        status = response.getheader("grpc-status") or ("0" if b"grpc-status:0" in payload else payload[-200:])
        if response.status != 200 or status not in ("0", 0):
            raise RuntimeError(f"chunk {i}: HTTP {response.status} grpc-status {status}")

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(in_flight) as pool:
        list(pool.map(post, range(len(chunks) - 1)))
    post(len(chunks) - 1)
    return time.perf_counter() - started


async def settle(catalog, md, video_id: str | None) -> None:
    """Let the last run's after-effects finish before the next is timed: the media service takes
    each finished upload (reading and writing it all once), and the page cache holds dirty data.
    Without this, each run pays for the one before, and the order of runs decides the figures."""
    if video_id:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            video = (
                await catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md, timeout=10)
            ).video
            if video.status in FINAL:
                break
            await asyncio.sleep(0.2)
    await asyncio.to_thread(os.sync)


BASELINE = "raw TCP + CRC32C + fsync (baseline)"


async def main_async(args) -> None:
    chunks = [os.urandom(MiB) for _ in range(args.mib)]
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        folder = pathlib.Path(folder)
        (folder / "baseline").mkdir()
        port = free_port()
        baseline = subprocess.Popen(
            [sys.executable, __file__, "--baseline-server", str(port), str(folder / "baseline")]
        )
        try:
            await asyncio.to_thread(wait_listening, port, 60, baseline)
            for storage in args.storage.split(","):
                await measure_storage(storage, folder, port, chunks, args.repeat, results)
        finally:
            baseline.terminate()
            baseline.wait()
    report(args, results)


async def measure_storage(
    storage: str,
    folder: pathlib.Path,
    baseline_port: int,
    chunks: list[bytes],
    repeat: int,
    results: dict[str, list[float]],
) -> None:
    """Each round times the baseline and then every path once, each after the machine settled,
    so the baseline is measured under the same disk conditions as the paths it is compared to."""
    total = len(chunks)
    suffix = "" if storage == "local" else f" [{storage}]"
    servers: list = []
    try:
        env = storage_env(storage, folder / storage, servers)
        stack = BenchStack(folder / f"stack-{storage}", env=env, gateway=True).start()
    except BaseException:
        for server in servers:
            server.stop()
        raise
    try:
        md = stack.metadata()
        async with (
            grpc.aio.insecure_channel(stack.target("ingest"), options=message_options(8 * MiB)) as channel,
            grpc.aio.insecure_channel(stack.target("catalog")) as catalog_channel,
        ):
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            catalog = catalog_pb2_grpc.CatalogServiceStub(catalog_channel)

            async def web(flight: int) -> tuple[float, str]:
                video_id = (await stub.CreateUpload(CREATE, metadata=md, timeout=10)).video_id
                return await asyncio.to_thread(grpc_web, stack.gateway_port, md, chunks, flight, video_id), video_id

            async def raw() -> tuple[float, None]:
                return await baseline_client(baseline_port, chunks), None

            paths = {
                BASELINE: raw,
                f"gRPC client stream (Upload){suffix}": lambda: client_stream(stub, md, chunks),
                f"gRPC unary PutChunk, 1 in flight{suffix}": lambda: unary(stub, md, chunks, 1),
                f"gRPC unary PutChunk, 4 in flight{suffix}": lambda: unary(stub, md, chunks, 4),
                f"gRPC-Web via Envoy, 1 in flight{suffix}": lambda: web(1),
                f"gRPC-Web via Envoy, 4 in flight{suffix}": lambda: web(4),
            }
            last_video = None
            for _ in range(repeat):
                for name, run in paths.items():
                    await settle(catalog, md, last_video)
                    seconds, last_video = await run()
                    results.setdefault(name, []).append(total / seconds)
            await settle(catalog, md, last_video)
    finally:
        stack.stop()
        for server in servers:
            server.stop()


def report(args, results: dict[str, list[float]]) -> None:
    baseline = statistics.median(results[BASELINE])
    print(
        f"{args.mib} chunks of 1 MiB, median of {args.repeat} runs (baseline: of every round); "
        f"disk: {args.dir or tempfile.gettempdir()}"
    )
    print(f"{'path':<45} {'MiB/s':>8} {'runs (min-max)':>15} {'vs baseline':>12} {'vs local':>9}")
    for name, rates in results.items():
        rate = statistics.median(rates)
        local = name.rsplit(" [", 1)[0]
        versus_local = f"{rate / statistics.median(results[local]):>9.2f}" if local != name and local in results else ""
        spread = f"{min(rates):.0f}-{max(rates):.0f}"
        print(f"{name:<45} {rate:>8.0f} {spread:>15} {rate / baseline:>12.2f} {versus_local}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--baseline-server":
        asyncio.run(baseline_server(int(sys.argv[2]), pathlib.Path(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB per run (1 MiB chunks)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the files go (default: the temp folder)")
    parser.add_argument(
        "--storage", default="local", help="backends to measure, e.g. local,s3 (s3: SeaweedFS on loopback)"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
