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
its data on the same disk). Printed: MiB/s (median of --repeat runs), the ratio to the baseline,
and for S3 rows the ratio to the same path on local storage.
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
from recorder.v1 import ingest_pb2, ingest_pb2_grpc  # noqa: E402
from recorder_common.serving import message_options  # noqa: E402

MiB = 1024 * 1024


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

    await stub.Upload(messages(), metadata=md, timeout=600)
    return time.perf_counter() - started


async def unary(stub, md, chunks: list[bytes], in_flight: int) -> float:
    video_id = (await stub.CreateUpload(CREATE, metadata=md, timeout=10)).video_id
    started = time.perf_counter()
    window = asyncio.Semaphore(in_flight)

    async def put(i: int, data: bytes) -> None:
        async with window:
            await stub.PutChunk(ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, data, i == len(chunks) - 1)),
                                metadata=md, timeout=60)

    # The last chunk goes after the others, as a client that flags it would send it.
    await asyncio.gather(*(put(i, d) for i, d in enumerate(chunks[:-1])))
    await put(len(chunks) - 1, chunks[-1])
    return time.perf_counter() - started


def grpc_web(port: int, md, chunks: list[bytes], in_flight: int, video_id: str) -> float:
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", **dict(md)}
    local = __import__("threading").local()

    def post(i: int) -> None:
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, chunks[i], i == len(chunks) - 1)).SerializeToString()
        local.conn.request("POST", "/recorder.v1.IngestService/PutChunk", b"\x00" + len(body).to_bytes(4, "big") + body, headers)
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


async def main_async(args) -> None:
    chunks = [os.urandom(MiB) for _ in range(args.mib)]
    total = args.mib
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        folder = pathlib.Path(folder)
        (folder / "baseline").mkdir()
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--baseline-server", str(port), str(folder / "baseline")])
        try:
            for _ in range(50):
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port)
                    w.close()
                    break
                except OSError:
                    await asyncio.sleep(0.1)
            for _ in range(args.repeat):
                results.setdefault("raw TCP + CRC32C + fsync (baseline)", []).append(
                    total / await baseline_client(port, chunks))
        finally:
            server.terminate()
            server.wait()

        for storage in args.storage.split(","):
            servers: list = []
            suffix = "" if storage == "local" else f" [{storage}]"
            try:
                env = storage_env(storage, folder / storage, servers)
                stack = BenchStack(folder / f"stack-{storage}", env=env, gateway=True).start()
            except BaseException:
                for server in servers:
                    server.stop()
                raise
            try:
                md = stack.metadata()
                async with grpc.aio.insecure_channel(stack.target("ingest"), options=message_options(8 * MiB)) as channel:
                    stub = ingest_pb2_grpc.IngestServiceStub(channel)
                    for _ in range(args.repeat):
                        results.setdefault(f"gRPC client stream (Upload){suffix}", []).append(
                            total / await client_stream(stub, md, chunks))
                        results.setdefault(f"gRPC unary PutChunk, 1 in flight{suffix}", []).append(
                            total / await unary(stub, md, chunks, 1))
                        results.setdefault(f"gRPC unary PutChunk, 4 in flight{suffix}", []).append(
                            total / await unary(stub, md, chunks, 4))
                    for _ in range(args.repeat):
                        for flight in (1, 4):
                            video_id = (await stub.CreateUpload(CREATE, metadata=md, timeout=10)).video_id
                            seconds = await asyncio.to_thread(grpc_web, stack.gateway_port, md, chunks, flight,
                                                              video_id)
                            results.setdefault(f"gRPC-Web via Envoy, {flight} in flight{suffix}", []).append(
                                total / seconds)
            finally:
                stack.stop()
                for server in servers:
                    server.stop()
    baseline = statistics.median(results["raw TCP + CRC32C + fsync (baseline)"])
    print(f"{args.mib} chunks of 1 MiB, median of {args.repeat} runs; disk: {args.dir or tempfile.gettempdir()}")
    print(f"{'path':<45} {'MiB/s':>8} {'vs baseline':>12} {'vs local':>9}")
    for name, rates in results.items():
        rate = statistics.median(rates)
        local = name.rsplit(" [", 1)[0]
        versus_local = f"{rate / statistics.median(results[local]):>9.2f}" if local != name and local in results else ""
        print(f"{name:<45} {rate:>8.0f} {rate / baseline:>12.2f} {versus_local}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--baseline-server":
        asyncio.run(baseline_server(int(sys.argv[2]), pathlib.Path(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB per run (1 MiB chunks)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where the files go (default: the temp folder)")
    parser.add_argument("--storage", default="local", help="backends to measure, e.g. local,s3 (s3: SeaweedFS on loopback)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
