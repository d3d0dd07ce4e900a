"""N people recording at once: stop -> READY, stop -> compressed, chunk acks, and what it costs.

    .venv/bin/python bench/concurrent_recordings.py [--n 1,4,8,16,32] [--seconds 60] [--size 1920x1080]
                                                    [--long-seconds 600] [--skip-long] [--owners 0]
                                                    [--env K=V ...]

One screen-like VP8/Opus recording (bench/_media.py: a desktop with a changing counter and a moving
window, 4 Mbit/s, as MediaRecorder writes it) is generated once and cached outside the repository.
For each N, a fresh stack of real service processes with default settings (only the media
service's METRICS_PORT is set, to read its counters; --env K=V changes a setting, e.g.
MEDIA_MAX_LIVE_SESSIONS=2) receives N uploads of those bytes, each by its own user (--owners K
spreads them over K users), all starting together and each sent at 1x pace: a 1 MiB PutChunk call
as soon as the recording would have made its bytes, the last flagged. "Stop" is that recording's
last acknowledged chunk. Printed per N, as a Markdown table:

- stop -> READY (watchable) and stop -> compressed rendition READY: p50, p99, max (nearest rank: at
  small N the p99 is the max);
- the PutChunk ack p99 over every chunk of the run;
- peak RSS of the media and ingest services with their children (ffmpeg included) and their CPU
  seconds over the run, from /proc;
- live encodes that fell behind and what the policy did, from the media service's
  recorder_live_encodes_behind_total{action} (n/a from a media service without that counter);
- the backlog drain rate: the media-seconds still to compress when the last recording stopped,
  divided by the time until the last compressed copy was READY, and its ratio to the encoder
  throughput measured alone in the same run (the media service's compress command on the same file,
  nothing else running). Shown when at least one recording's length was left to compress. A
  rendition whose encode has not reported progress yet (a live encode reports 0 until stop) counts
  as done, so the drain rate is a lower bound.

Then one --long-seconds recording sent at full speed (an upload of a finished file): last chunk ->
READY and -> compressed.

Status is read with GetVideo, woken by each recording's WatchVideo stream, so waiting adds no
polling load while the services work; after a stream ends, GetVideo is polled (5 per second for the
first seconds, then once a second).
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402

from bench._clients import ingest_and_catalog  # noqa: E402
from bench._media import cached_screen_clip, encode_alone  # noqa: E402
from bench._stack import (
    BenchStack,
    TreeMeter,
    create_upload,
    free_port,
    percentile,
    scrape_metrics,  # noqa: E402
    send_chunks,
)
from media_service.settings import find_ffmpeg, profile_from_env  # noqa: E402
from recorder.v1 import catalog_pb2, common_pb2  # noqa: E402

MiB = 1024 * 1024
BEHIND_METRIC = "recorder_live_encodes_behind_total"
# --ready-only: stop following a recording once it is READY (the compressed columns show nan).
READY_ONLY = False
COMPRESSED_TARGET = 2.0  # seconds from stop, p99: "as many as the machine can encode live" (issue 15)


# The status model, in one place: READY is watchable; the compressed copy is a rendition with its own
# state and progress (Video.renditions).
def watchable(video: common_pb2.Video) -> bool:
    return video.status == common_pb2.VIDEO_STATUS_READY


def compressed_rendition(video: common_pb2.Video) -> common_pb2.Rendition | None:
    return next((r for r in video.renditions if r.kind == common_pb2.RENDITION_KIND_COMPRESSED), None)


def compressed_ready(video: common_pb2.Video) -> bool:
    rendition = compressed_rendition(video)
    return rendition is not None and rendition.state == common_pb2.RENDITION_STATE_READY


def compressed_progress(video: common_pb2.Video) -> float | None:
    """Fraction of the compressed copy made: 0 while queued; None when not known: before the
    rendition exists, or while an encode reports 0 (a live encode does until the recording's length
    is known, at stop)."""
    if compressed_ready(video):
        return 1.0
    rendition = compressed_rendition(video)
    if rendition is None or (rendition.state == common_pb2.RENDITION_STATE_PROCESSING and not rendition.progress):
        return None
    return rendition.progress


def failed(video: common_pb2.Video) -> str | None:
    if video.status == common_pb2.VIDEO_STATUS_FAILED:
        return video.error or "failed"
    rendition = compressed_rendition(video)
    if rendition is not None and rendition.state == common_pb2.RENDITION_STATE_FAILED:
        return f"compressed rendition failed: {rendition.error or 'no error given'}"
    return None


@dataclass
class Recording:
    video_id: str
    md: tuple
    last_ack: float = 0.0
    ready_at: float | None = None
    compressed_at: float | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    watch_open: bool = True


async def watch(catalog, rec: Recording, limit: float) -> None:
    """Wakes the follower on every update; the follower reads the state itself."""
    try:
        async for _ in catalog.WatchVideo(
            catalog_pb2.WatchVideoRequest(video_id=rec.video_id), metadata=rec.md, timeout=limit
        ):
            rec.changed.set()
    except grpc.RpcError:
        pass
    finally:
        rec.watch_open = False
        rec.changed.set()


async def get_video(catalog, rec: Recording) -> common_pb2.Video:
    return (
        await catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=rec.video_id), metadata=rec.md, timeout=10)
    ).video


async def follow(catalog, rec: Recording, limit: float) -> None:
    """From the recording's stop until its compressed copy is READY."""
    while True:
        rec.changed.clear()
        video = await get_video(catalog, rec)
        now = time.monotonic()
        if error := failed(video):
            raise RuntimeError(f"processing failed: {error}")
        if rec.ready_at is None and watchable(video):
            rec.ready_at = now
        if rec.compressed_at is None and compressed_ready(video):
            rec.compressed_at = now
        if rec.ready_at is not None and (READY_ONLY or rec.compressed_at is not None):
            # A live encode can finish its tail before the job publishes the original: then the
            # compressed copy is READY first, and the video's READY is still to wait for.
            return
        if now - rec.last_ack > limit:
            raise TimeoutError(f"compressed copy not READY {limit:.0f} s after stop")
        if rec.watch_open:
            try:
                await asyncio.wait_for(rec.changed.wait(), timeout=2.0)
            except asyncio.TimeoutError:
                pass
            await asyncio.sleep(0.02 if rec.ready_at is None else 0.2)  # several updates, one read
        else:
            since = now - (rec.ready_at or rec.last_ack)
            await asyncio.sleep(0.2 if since < 5 else 1.0)


def behind_counts(metrics_text: str) -> str:
    """ "3 (faster_preset 2, requeue 1)", "0", or "n/a" when the media service has no such counter."""
    # prometheus_client declares a counter without its _total suffix (OpenMetrics style).
    if not re.search(rf"^# TYPE {BEHIND_METRIC.removesuffix('_total')}(_total)? counter$", metrics_text, re.M):
        return "n/a"
    counts = {}
    for match in re.finditer(rf'^{BEHIND_METRIC}\{{[^}}]*action="([^"]*)"[^}}]*\}} ([0-9.e+]+)$', metrics_text, re.M):
        counts[match.group(1)] = counts.get(match.group(1), 0) + int(float(match.group(2)))
    total = sum(counts.values())
    detail = ", ".join(f"{action} {count}" for action, count in sorted(counts.items()) if count)
    return f"{total} ({detail})" if total else "0"


def ready_phases(metrics_text: str) -> str:
    """The media service's recorder_ready_phase_seconds as mean milliseconds per phase, in order."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for match in re.finditer(
        r'^recorder_ready_phase_seconds_(sum|count)\{phase="([^"]*)"\} ([0-9.e+-]+)$', metrics_text, re.M
    ):
        (sums if match.group(1) == "sum" else counts)[match.group(2)] = float(match.group(3))
    return (
        ", ".join(f"{phase} {sums[phase] / counts[phase] * 1000:.0f}" for phase in sums if counts.get(phase)) or "n/a"
    )


def histogram(metrics_text: str, name: str, match: str = "") -> tuple[float, float] | None:
    """(mean, p99 as the upper bound of its bucket) of a Prometheus histogram, in ms, summed over
    the series whose labels contain `match`; None when it has no samples."""
    buckets: dict[float, float] = {}
    total = count = 0.0
    for line in metrics_text.splitlines():
        if not line.startswith(name) or match not in line:
            continue
        key, _, value = line.rpartition(" ")
        if key.startswith(f"{name}_bucket"):
            bound = re.search(r'le="([^"]+)"', key)
            if bound:
                le = float(bound.group(1))
                buckets[le] = buckets.get(le, 0.0) + float(value)
        elif key.startswith(f"{name}_sum"):
            total += float(value)
        elif key.startswith(f"{name}_count"):
            count += float(value)
    if not count:
        return None
    p99 = next((le for le, n in sorted(buckets.items()) if n >= 0.99 * count), float("inf"))
    return total / count * 1000, p99 * 1000


def ack_parts(metrics_text: str) -> str:
    """Where an ack's time goes inside ingest: PutChunk as served, the chunk write (fsync) and the
    catalog's RecordChunks, each as mean / p99 bucket bound."""
    parts = {
        "PutChunk served": histogram(metrics_text, "recorder_rpc_duration_seconds", 'method="PutChunk"'),
        "write": histogram(metrics_text, "recorder_chunk_write_seconds"),
        "record": histogram(metrics_text, "recorder_chunk_record_seconds"),
    }
    return ", ".join(f"{k} {v[0]:.0f} / <={v[1]:.0f} ms" for k, v in parts.items() if v) or "n/a"


def stats(values: list[float]) -> tuple[float, float, float]:
    return percentile(values, 50), percentile(values, 99), max(values)


async def run_recordings(
    stack: BenchStack, data: bytes, seconds: float, n: int, owners: int, pace: float | None, limit: float
) -> dict:
    async with ingest_and_catalog(stack) as (ingest, catalog):
        users = [stack.metadata(f"user{i}") for i in range(owners or n)]
        recordings = []
        for i in range(n):
            md = users[i % len(users)]
            recordings.append(Recording(await create_upload(ingest, md), md))
        watchers = [
            asyncio.create_task(watch(catalog, rec, seconds / (pace or 1e9) + limit + 60)) for rec in recordings
        ]
        acks: list[float] = []
        started = time.monotonic()

        async def record(rec: Recording) -> None:
            rec.last_ack = await send_chunks(ingest, rec.md, rec.video_id, data, seconds, pace, started, acks)
            await follow(catalog, rec, limit)

        followers = [asyncio.create_task(record(rec)) for rec in recordings]
        try:
            # When the last recording stops: how much of the compressed copies is still to make.
            while not all(rec.last_ack for rec in recordings):
                await asyncio.wait(followers, timeout=0.05, return_when=asyncio.FIRST_EXCEPTION)
                for task in followers:
                    if task.done() and task.exception():
                        raise task.exception()
            all_stopped = max(rec.last_ack for rec in recordings)
            snapshot = await asyncio.gather(*(get_video(catalog, rec) for rec in recordings))
            await asyncio.gather(*followers)
        finally:
            for task in [*followers, *watchers]:
                task.cancel()
            await asyncio.gather(*followers, *watchers, return_exceptions=True)
    # Unknown progress counts as done, so the backlog and its drain rate are never overstated.
    backlog = sum(seconds * (1 - (p if p is not None else 1.0)) for p in map(compressed_progress, snapshot))
    if any(rec.compressed_at is None for rec in recordings):  # --ready-only
        for rec in recordings:
            rec.compressed_at = float("nan")
    drained = max(rec.compressed_at for rec in recordings) - all_stopped
    return {
        "n": n,
        "ready": stats([rec.ready_at - rec.last_ack for rec in recordings]),
        "compressed": stats([rec.compressed_at - rec.last_ack for rec in recordings]),
        "ack_p99": percentile(acks, 99) if acks else float("nan"),
        "backlog": backlog,
        "drain_rate": backlog / drained if backlog >= seconds and drained > 0 else None,
    }


def start_stack(folder: pathlib.Path, settings: dict[str, str]) -> tuple[BenchStack, dict[str, int], TreeMeter]:
    metrics_ports = {"media": free_port(), "ingest": free_port()}
    service_env = {name: {"METRICS_PORT": str(port)} for name, port in metrics_ports.items()}
    stack = BenchStack(folder, env=settings, service_env=service_env).start()
    meter = TreeMeter({name: stack.processes[name].pid for name in ("media", "ingest")}).start()
    return stack, metrics_ports, meter


def seconds_text(value: float) -> str:
    return f"{value:.2f} s"


async def main_async(args) -> None:
    global READY_ONLY
    READY_ONLY = args.ready_only
    ns = [int(x) for x in args.n.split(",")]
    settings = dict(kv.split("=", 1) for kv in args.env)
    ffmpeg = find_ffmpeg()
    width, height = (int(x) for x in args.size.split("x"))
    clip = cached_screen_clip(ffmpeg, args.seconds, size=args.size, bitrate=args.bitrate)
    data = clip.read_bytes()
    print(f"recording: {args.seconds:g} s {args.size} VP8/Opus, {len(data) / 1e6:.1f} MB ({clip})", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        alone = encode_alone(ffmpeg, clip, args.seconds, profile_from_env(settings), (width, height), folder)
        print(f"encoder alone: {alone:.2f} media-s per wall-s", flush=True)
        for n in ns:
            stack, metrics_ports, meter = start_stack(folder / f"n{n}", settings)
            try:
                row = await run_recordings(stack, data, args.seconds, n, args.owners, 1.0, args.limit)
                row["cpu"] = meter.cpu()
                scraped = scrape_metrics(metrics_ports["media"])
                row["behind"] = behind_counts(scraped)
                row["phases"] = ready_phases(scraped)
                row["ack_parts"] = ack_parts(scrape_metrics(metrics_ports["ingest"]))
            finally:
                meter.stop()
                stack.stop()
            row["rss"] = meter.peak
            rows.append(row)
            print(
                f"N={n}: stop->READY p99 {row['ready'][1]:.2f} s, stop->compressed p99 "
                f"{row['compressed'][1]:.2f} s, ack p99 {row['ack_p99'] * 1000:.0f} ms",
                flush=True,
            )
            print(f"N={n}: ProcessVideo -> MarkReady, mean ms per phase: {row['phases']}", flush=True)
            print(f"N={n}: inside ingest, mean / p99: {row['ack_parts']}", flush=True)
        long_row = None
        if not args.skip_long:
            long_clip = cached_screen_clip(ffmpeg, args.long_seconds, size=args.size, bitrate=args.bitrate)
            stack, _, meter = start_stack(folder / "long", settings)
            try:
                long_row = await run_recordings(
                    stack, long_clip.read_bytes(), args.long_seconds, 1, 0, None, args.limit
                )
            finally:
                meter.stop()
                stack.stop()

    print()
    print(
        f"{len(ns)} runs, {args.seconds:g} s {args.size} VP8/Opus recordings at 1x pace, all starting together, "
        f"one stack of real service processes with "
        f"{', '.join(args.env) or 'default settings'}; stop = the recording's last chunk "
        f"acknowledged; encoder alone: {alone:.2f} media-s per wall-s"
    )
    print()
    print(
        "| recordings at once | stop → READY p50 / p99 / max | stop → compressed p50 / p99 / max "
        "| PutChunk ack p99 | live encodes behind (policy) | media RSS peak, CPU | ingest RSS peak, CPU "
        "| backlog at stop | backlog drain, vs encoder alone |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ready = " / ".join(f"{x:.2f}" for x in r["ready"])
        compressed = " / ".join(f"{x:.2f}" for x in r["compressed"])
        drain = (
            f"{r['drain_rate']:.2f} media-s/s, {r['drain_rate'] / alone:.2f}" if r["drain_rate"] is not None else "—"
        )
        print(
            f"| {r['n']} | {ready} s | {compressed} s | {r['ack_p99'] * 1000:.0f} ms | {r['behind']} "
            f"| {r['rss']['media']:.0f} MiB, {r['cpu']['media']:.1f} s | {r['rss']['ingest']:.0f} MiB, "
            f"{r['cpu']['ingest']:.1f} s | {r['backlog']:.0f} media-s | {drain} |"
        )
    within = [r["n"] for r in rows if r["compressed"][1] <= COMPRESSED_TARGET]
    print()
    print(
        f"compressed within {COMPRESSED_TARGET:g} s of stop at p99: "
        + (f"at N = {', '.join(map(str, within))}" if within else "at no N")
        + f" (of {', '.join(str(r['n']) for r in rows)})"
    )
    print()
    print(
        "RSS: the service with its children (ffmpeg included), sampled twice a second. Backlog: media-seconds "
        "of compressed renditions not yet made when the last recording stopped, from each rendition's progress "
        "(an encode that has not reported any yet counts as done, so the drain rate is a lower bound)."
    )
    if long_row:
        print()
        print(
            f"| {args.long_seconds:g} s {args.size} recording, sent at full speed | last chunk → READY "
            "| last chunk → compressed |"
        )
        print("| --- | --- | --- |")
        print(f"| 1 | {seconds_text(long_row['ready'][2])} | {seconds_text(long_row['compressed'][2])} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1,4,8,16,32", help="recordings at once, one run each")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each recording")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument(
        "--bitrate", default="4000k", help="of the generated recording (Chrome uses about 2.5-5 Mbit/s)"
    )
    parser.add_argument(
        "--owners", type=int, default=0, help="spread the recordings over this many users (0: one each)"
    )
    parser.add_argument("--long-seconds", type=float, default=600.0, help="the finished file sent at full speed")
    parser.add_argument("--skip-long", action="store_true", help="leave out the finished-file run")
    parser.add_argument("--env", action="append", default=[], help="a service setting, e.g. MEDIA_MAX_LIVE_SESSIONS=2")
    parser.add_argument("--ready-only", action="store_true", help="do not wait for the compressed renditions")
    parser.add_argument("--limit", type=float, default=3600.0, help="give up on a recording this long after its stop")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
