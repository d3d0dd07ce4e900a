"""A victim's time to READY on an idle media service, and while another user's 10-hour still-image
upload (2 MB, see tests/media_bombs.py) is being processed.

    .venv/bin/python bench/fairness.py [--repeats 3] [--size 1280x720] [--seconds 5] [--env K=V ...]

One stack of real service processes with the default media settings (two job slots, per-user caps;
--env overrides one, e.g. MEDIA_MAX_JOBS=1 to see the old single slot). First `repeats` uploads of a
5 s screen recording by alice on the idle stack; then mallory uploads the bomb, and once its ffmpeg
runs, alice's uploads again (MAX_RECORDING_SECONDS is lifted so the bomb is processed, not refused).
The clock starts when alice's last chunk is acknowledged and stops
when GetVideo says READY. Printed: each wait, the medians, and loaded/idle.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402

from bench._stack import BenchStack, chunk_request  # noqa: E402
from bench._media import make_screen_clip  # noqa: E402
from media_service.settings import find_ffmpeg  # noqa: E402
from recorder.v1 import catalog_pb2, catalog_pb2_grpc, common_pb2, ingest_pb2, ingest_pb2_grpc  # noqa: E402
from recorder_common.serving import message_options  # noqa: E402
from tests.media_bombs import make_still_image_bomb  # noqa: E402

MiB = 1024 * 1024


def upload(ingest, data: bytes, md) -> tuple[str, float]:
    video_id = ingest.CreateUpload(
        ingest_pb2.CreateUploadRequest(title="bench", content_type="video/webm;codecs=vp8,opus"),
        metadata=md,
        timeout=10,
    ).video_id
    parts = [data[i : i + MiB] for i in range(0, len(data), MiB)]
    for i, part in enumerate(parts):
        ingest.PutChunk(chunk_request(video_id, i, part, i == len(parts) - 1), metadata=md, timeout=60)
    return video_id, time.monotonic()


def video(catalog, video_id: str, md) -> common_pb2.Video:
    return catalog.GetVideo(catalog_pb2.GetVideoRequest(video_id=video_id), metadata=md, timeout=10).video


def wait_ready(catalog, video_id: str, md, since: float, limit: float = 1800) -> float:
    while True:
        found = video(catalog, video_id, md)
        if found.status == common_pb2.VIDEO_STATUS_READY:
            return time.monotonic() - since
        if found.status == common_pb2.VIDEO_STATUS_FAILED:
            raise RuntimeError(f"processing failed: {found.error}")
        if time.monotonic() - since > limit:
            raise TimeoutError(f"not READY after {limit:.0f} s")
        time.sleep(0.05)


def ffmpeg_running_for(video_id: str) -> bool:
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if video_id.encode() in (entry / "cmdline").read_bytes():
                    return True
            except OSError:
                pass
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--env", action="append", default=[], help="a media setting, e.g. MEDIA_MAX_JOBS=1")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        clip = folder / "victim.webm"
        make_screen_clip(find_ffmpeg(), clip, args.seconds, size=args.size)
        bomb = make_still_image_bomb(folder / "bomb.webm")
        print(
            f"victim: {args.seconds:g} s {args.size}, {clip.stat().st_size / 1e6:.1f} MB; "
            f"bomb: 10 h of 1920x1080, {bomb.stat().st_size / 1e6:.1f} MB",
            flush=True,
        )
        (folder / "stack").mkdir()
        # MAX_RECORDING_SECONDS (4 h) would refuse the bomb at PROBE: lifted, so that what is measured
        # is the scheduling while it is processed, not the refusal.
        env = {"MAX_RECORDING_SECONDS": "40000", **dict(kv.split("=", 1) for kv in args.env)}
        stack = BenchStack(folder / "stack", env=env)
        stack.start()
        try:
            options = message_options(8 * MiB)
            with (
                grpc.insecure_channel(stack.target("ingest"), options=options) as ingest_channel,
                grpc.insecure_channel(stack.target("catalog"), options=options) as catalog_channel,
            ):
                ingest = ingest_pb2_grpc.IngestServiceStub(ingest_channel)
                catalog = catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
                alice, mallory = stack.metadata("alice"), stack.metadata("mallory")
                victim = clip.read_bytes()
                idle = []
                for _ in range(args.repeats):
                    video_id, last = upload(ingest, victim, alice)
                    idle.append(wait_ready(catalog, video_id, alice, last))
                    print(f"idle:   {idle[-1]:.2f} s", flush=True)
                bomb_id, _ = upload(ingest, bomb.read_bytes(), mallory)
                deadline = time.monotonic() + 120
                while not ffmpeg_running_for(bomb_id):
                    if time.monotonic() > deadline or video(catalog, bomb_id, mallory).status in (
                        common_pb2.VIDEO_STATUS_READY,
                        common_pb2.VIDEO_STATUS_FAILED,
                    ):
                        raise RuntimeError(f"the bomb is not being processed: {video(catalog, bomb_id, mallory)}")
                    time.sleep(0.1)
                loaded = []
                for _ in range(args.repeats):
                    video_id, last = upload(ingest, victim, alice)
                    loaded.append(wait_ready(catalog, video_id, alice, last))
                    state = video(catalog, bomb_id, mallory)
                    print(
                        f"loaded: {loaded[-1]:.2f} s (the bomb: {common_pb2.VideoStatus.Name(state.status)}, "
                        f"{common_pb2.ProcessingStep.Name(state.current_step)} "
                        f"{state.progress:.0%}, ffmpeg running: {ffmpeg_running_for(bomb_id)})",
                        flush=True,
                    )
        finally:
            stack.stop()
    idle_median, loaded_median = statistics.median(idle), statistics.median(loaded)
    print()
    print(f"victim's wait, last chunk ack -> READY, {args.seconds:g} s {args.size} VP8/Opus, this machine:")
    print(f"  idle stack:        median {idle_median:.2f} s  ({', '.join(f'{w:.2f}' for w in idle)})")
    print(f"  while a bomb runs: median {loaded_median:.2f} s  ({', '.join(f'{w:.2f}' for w in loaded)})")
    print(f"  loaded / idle: {loaded_median / idle_median:.2f}")


if __name__ == "__main__":
    main()
