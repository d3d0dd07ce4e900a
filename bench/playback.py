"""Watching one shared video with many viewers at once, through Envoy, on loopback.

    .venv/bin/python bench/playback.py [--viewers 50] [--browsers 10] [--seconds 20] [--piece-kib 1024]

Real processes (catalog, media, ingest, Envoy; SQLite, local storage). One recording is uploaded
and processed to READY and shared. Then, in one run:

- HTTP viewers (--viewers at once, plain asyncio clients): each opens the share page, then reads
  the whole video in --piece-kib ranges, as a player does. Printed: time to first byte of the page
  and of the first video range, p50 and p99.
- Browser viewers (--browsers pages at once in one headless Chromium): page load to the first
  decoded frame (requestVideoFrameCallback), p50 and p99. 0 skips this phase.
- The catalog's and the media service's CPU seconds per viewer over the HTTP phase, and how many
  ResolveShareLink calls the catalog served (its /metrics): playback touches the database once per
  link per cache period, not per range or segment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import grpc  # noqa: E402

from bench._stack import ROOT, BenchStack, create_upload, free_port, send_chunks  # noqa: E402
from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, ingest_pb2_grpc  # noqa: E402
from tests.media_tools import make_webm  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def cpu_seconds(pid: int) -> float:
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def resolve_calls(metrics_port: int) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return int(
        sum(
            float(m)
            for m in re.findall(r'recorder_rpc_requests_total\{[^}]*method="ResolveShareLink"[^}]*\} ([0-9.e+]+)', text)
        )
    )


async def upload_and_share(stack: BenchStack, recording: pathlib.Path) -> str:
    md = stack.metadata("bench-viewer")
    async with (
        grpc.aio.insecure_channel(stack.target("ingest")) as ingest_channel,
        grpc.aio.insecure_channel(stack.target("catalog")) as catalog_channel,
    ):
        ingest = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
        catalog = catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
        video_id = await create_upload(ingest, md)
        await send_chunks(ingest, md, video_id, recording.read_bytes(), seconds=0, pace=None)
        deadline = time.monotonic() + 600
        while True:
            video = (
                await catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md, timeout=10)
            ).video
            if video.status == common_pb2.VIDEO_STATUS_READY:
                break
            if video.status == common_pb2.VIDEO_STATUS_FAILED or time.monotonic() > deadline:
                raise RuntimeError(f"video {video_id}: {video.status} {video.error}")
            await asyncio.sleep(0.5)
        link = (
            await catalog.CreateShareLink(
                catalog_pb2.CreateShareLinkRequest(video_id=video_id, expires_in_seconds=3600), metadata=md, timeout=10
            )
        ).link
        return link.path


async def http_viewer(session: aiohttp.ClientSession, base: str, page_path: str, piece: int) -> dict:
    started = time.perf_counter()
    async with session.get(base + page_path) as response:
        await response.content.read(1)
        page_ttfb = time.perf_counter() - started
        page = (await response.read()).decode()
    src = re.search(r'<video[^>]* src="([^"]+)"', page)[1]
    position, size, first_range_ttfb, ranges = 0, None, None, 0
    while size is None or position < size:
        asked = time.perf_counter()
        async with session.get(base + src, headers={"Range": f"bytes={position}-{position + piece - 1}"}) as response:
            assert response.status == 206, response.status
            first = await response.content.read(1)
            if first_range_ttfb is None:
                first_range_ttfb = time.perf_counter() - asked
            body = first + await response.read()
            size = int(response.headers["Content-Range"].rsplit("/", 1)[1])
        position += len(body)
        ranges += 1
    return {"page_ttfb": page_ttfb, "range_ttfb": first_range_ttfb, "ranges": ranges, "bytes": position}


async def http_phase(base: str, page_path: str, viewers: int, piece: int) -> list[dict]:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        return await asyncio.gather(*(http_viewer(session, base, page_path, piece) for _ in range(viewers)))


def browser_phase(url: str, viewers: int) -> list[dict]:
    web = ROOT / "web"
    if not (web / "node_modules" / "playwright-core").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=web, check=True, timeout=600)
    out = subprocess.run(
        ["node", "scripts/watch-in-chromium.mjs", url, "300000"],
        cwd=web,
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "VIEWERS": str(viewers)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--browsers", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=20, help="length of the shared recording")
    parser.add_argument("--piece-kib", type=int, default=1024, help="range size the HTTP viewers read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-playback-") as tmp:
        folder = pathlib.Path(tmp)
        catalog_metrics = free_port()
        stack = BenchStack(folder, gateway=True, service_env={"catalog": {"METRICS_PORT": str(catalog_metrics)}})
        stack.start()
        try:
            recording = make_webm(folder / "bench.webm", args.seconds, bitrate="2M")
            page_path = asyncio.run(upload_and_share(stack, recording))
            base = f"http://127.0.0.1:{stack.gateway_port}"
            pids = {name: stack.processes[name].pid for name in ("catalog", "media")}
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            calls_before = resolve_calls(catalog_metrics)
            started = time.perf_counter()
            results = asyncio.run(http_phase(base, page_path, args.viewers, args.piece_kib * 1024))
            wall = time.perf_counter() - started
            cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
            calls = resolve_calls(catalog_metrics) - calls_before
            ranges = sum(r["ranges"] for r in results)
            total = sum(r["bytes"] for r in results)
            page = [r["page_ttfb"] * 1000 for r in results]
            first_range = [r["range_ttfb"] * 1000 for r in results]
            print(
                f"HTTP viewers: {args.viewers} at once, {ranges} ranges of {args.piece_kib} KiB, "
                f"{total / 2**20:.0f} MiB in {wall:.1f} s ({total / 2**20 / wall:.0f} MiB/s through Envoy)"
            )
            print(f"  share page TTFB      p50 {percentile(page, 50):7.1f} ms   p99 {percentile(page, 99):7.1f} ms")
            print(
                f"  first range TTFB     p50 {percentile(first_range, 50):7.1f} ms   "
                f"p99 {percentile(first_range, 99):7.1f} ms"
            )
            print(
                f"  CPU per viewer       catalog {cpu['catalog'] / args.viewers * 1000:6.1f} ms   "
                f"media {cpu['media'] / args.viewers * 1000:6.1f} ms"
            )
            print(
                f"  catalog lookups      {calls} ResolveShareLink for {args.viewers} pages + {ranges} ranges "
                f"({calls / max(ranges + args.viewers, 1):.4f} per request)"
            )
            if args.browsers:
                shown = browser_phase(base + page_path, args.browsers)
                ok = [r for r in shown if "error" not in r]
                ttfb = [r["ttfbMs"] for r in ok]
                frame = [r["firstFrameMs"] for r in ok]
                print(f"Chromium viewers: {len(ok)}/{args.browsers} pages at once in one headless browser")
                if ok:
                    print(
                        f"  share page TTFB      p50 {percentile(ttfb, 50):7.1f} ms   "
                        f"p99 {percentile(ttfb, 99):7.1f} ms"
                    )
                    print(
                        f"  first decoded frame  p50 {percentile(frame, 50):7.1f} ms   "
                        f"p99 {percentile(frame, 99):7.1f} ms"
                    )
                for r in shown:
                    if "error" in r:
                        print("  failed:", r["error"][:200])
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
