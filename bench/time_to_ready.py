"""Time from the last chunk's acknowledgement to READY (watchable) and to the compressed rendition's
READY, with live processing and with the batch path.

    .venv/bin/python bench/time_to_ready.py [--lengths 60,300,600] [--size 1920x1080] [--paces 1,4]
                                            [--storage local,s3]

For each length a screen-like VP8/Opus recording is generated (see bench/_media.py) and
sent in 1 MiB PutChunk calls, each chunk sent when its bytes would exist in a recording made at
`pace` times realtime (1 = a live recording; 4 = an upload of a finished file, 4x faster). The
clock starts when the last chunk is acknowledged and stops when GetVideo says READY, and again
when the compressed rendition is READY. Two stacks of real service processes, one after the
other: live processing on (the default settings) and off (MEDIA_MAX_LIVE_SESSIONS=0, the batch
path: everything after the last chunk; its wait does not depend on the pace, so it is sent at
full speed). Printed: the waits, their ratio to the batch path's, and the live wait at each
length as a ratio of the shortest length's.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))


from bench._stack import BenchStack, create_upload, send_chunks, storage_env  # noqa: E402
from bench._clients import ingest_and_catalog  # noqa: E402
from bench._media import make_screen_clip  # noqa: E402
from media_service.settings import find_ffmpeg  # noqa: E402
from recorder.v1 import catalog_pb2, common_pb2  # noqa: E402

MiB = 1024 * 1024


async def send_and_wait(stack: BenchStack, data: bytes, seconds: float, pace: float | None) -> tuple[float, float]:
    """(last ack -> READY, last ack -> compressed rendition READY)."""
    md = stack.metadata()
    async with ingest_and_catalog(stack) as (ingest, catalog):
        video_id = await create_upload(ingest, md)
        last_ack = await send_chunks(ingest, md, video_id, data, seconds, pace)
        ready = None
        while True:
            video = (
                await catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md, timeout=10)
            ).video
            if video.status == common_pb2.VIDEO_STATUS_READY and ready is None:
                ready = time.monotonic() - last_ack
            if video.status == common_pb2.VIDEO_STATUS_FAILED:
                raise RuntimeError(f"processing failed: {video.error}")
            compressed = [r for r in video.renditions if r.kind == common_pb2.RENDITION_KIND_COMPRESSED]
            if ready is not None and compressed and compressed[0].state == common_pb2.RENDITION_STATE_READY:
                return ready, time.monotonic() - last_ack
            if compressed and compressed[0].state == common_pb2.RENDITION_STATE_FAILED:
                raise RuntimeError(f"the compressed rendition failed: {compressed[0].error}")
            await asyncio.sleep(0.05)


async def main_async(args) -> None:
    lengths = [int(x) for x in args.lengths.split(",")]
    paces = [float(x) for x in args.paces.split(",")]
    ffmpeg = find_ffmpeg()
    waits: dict[tuple[str, str, int, float | None], float] = {}
    compressed: dict[tuple[str, str, int, float | None], float] = {}
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        clips = {}
        for length in lengths:
            clips[length] = folder / f"screen-{length}s.webm"
            make_screen_clip(ffmpeg, clips[length], length, size=args.size, bitrate=args.bitrate)
            print(f"generated {length} s {args.size}: {clips[length].stat().st_size / 1e6:.0f} MB", flush=True)
        storages = args.storage.split(",")
        for storage in storages:
            for mode, sessions in (("live", None), ("batch", "0")):
                servers: list = []
                try:
                    env = {
                        **storage_env(storage, folder / f"{storage}-{mode}", servers),
                        **({"MEDIA_MAX_LIVE_SESSIONS": sessions} if sessions is not None else {}),
                    }
                    stack = BenchStack(folder / f"{storage}-{mode}", env=env).start()
                except BaseException:
                    for server in servers:
                        server.stop()
                    raise
                try:
                    for length in lengths:
                        for pace in paces if mode == "live" else [None]:
                            wait, done = await send_and_wait(stack, clips[length].read_bytes(), length, pace)
                            waits[(storage, mode, length, pace)] = wait
                            compressed[(storage, mode, length, pace)] = done
                            print(
                                f"{storage} {mode} {length} s at {pace or 'full speed'}x: READY {wait:.2f} s, "
                                f"compressed {done:.2f} s",
                                flush=True,
                            )
                finally:
                    stack.stop()
                    for server in servers:
                        server.stop()
    for storage in storages:
        print()
        print(
            f"time from last chunk ack to READY, {args.size} VP8/Opus, default h264 profile, "
            f"{storage} storage, this machine"
        )
        header = (
            f"{'length':>7} "
            + " ".join(f"{'live ' + format(p, 'g') + 'x':>9}" for p in paces)
            + f" {'batch':>8} "
            + " ".join(f"{'live ' + format(p, 'g') + 'x/batch':>15}" for p in paces)
        )
        print(header)
        for length in lengths:
            batch = waits[(storage, "batch", length, None)]
            live = [waits[(storage, "live", length, p)] for p in paces]
            print(
                f"{length:>6}s "
                + " ".join(f"{w:>8.2f}s" for w in live)
                + f" {batch:>7.2f}s "
                + " ".join(f"{w / batch:>15.2f}" for w in live)
            )
        shortest = lengths[0]
        for pace in paces:
            ratios = ", ".join(
                f"{length} s: {waits[(storage, 'live', length, pace)] / waits[(storage, 'live', shortest, pace)]:.2f}"
                for length in lengths
            )
            print(f"live at {pace:g}x, wait as a ratio of the {shortest} s recording's: {ratios}")
        print(f"last chunk ack to the compressed rendition READY, {storage} storage")
        print(f"{'length':>7} " + " ".join(f"{'live ' + format(p, 'g') + 'x':>9}" for p in paces) + f" {'batch':>8}")
        for length in lengths:
            print(
                f"{length:>6}s "
                + " ".join(f"{compressed[(storage, 'live', length, p)]:>8.2f}s" for p in paces)
                + f" {compressed[(storage, 'batch', length, None)]:>7.2f}s"
            )
    if "local" in storages:
        for storage in (s for s in storages if s != "local"):
            print()
            print(f"{storage} wait as a ratio of local storage's:")
            for (where, mode, length, pace), wait in waits.items():
                if where == storage:
                    print(
                        f"  {mode} {length} s at {pace or 'full speed'}x: "
                        f"{wait / waits[('local', mode, length, pace)]:.2f}"
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="60,300,600")
    parser.add_argument("--paces", default="1,4")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument(
        "--storage", default="local", help="backends to measure, e.g. local,s3 (s3: SeaweedFS on loopback)"
    )
    parser.add_argument(
        "--bitrate", default="4000k", help="of the generated recording (Chrome uses about 2.5-5 Mbit/s)"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
