"""What confining ffmpeg costs per run (media_service/sandbox.py), measured side by side.

Runs the same ffmpeg command (a probe, the cheapest run, where the fixed cost shows most; and a
remux of a 10 s clip) plainly and confined, alternating, and prints the medians and their ratio.

    .venv/bin/python bench/sandbox_overhead.py [--runs 20]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from media_service import commands, sandbox  # noqa: E402
from media_service.containers import Container  # noqa: E402
from media_service.settings import find_ffmpeg  # noqa: E402
from tests.media_tools import make_webm  # noqa: E402


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=False, timeout=300)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    found = sandbox.detect("auto")
    if found is None:
        sys.exit("this machine cannot confine ffmpeg (see the log line above)")
    ffmpeg = find_ffmpeg()
    with tempfile.TemporaryDirectory() as folder:
        work = pathlib.Path(folder)
        clip = work / "clip.webm"
        make_webm(clip, 10, audio=False, live=False, bitrate="2M")
        cases = {
            "probe": commands.probe_args(ffmpeg, str(clip), Container.WEBM),
            "remux 10 s 720p": commands.remux_args(
                ffmpeg, str(clip), Container.WEBM, str(work / "out.webm"), "webm", 1 << 30
            ),
        }
        print(f"sandbox: {', '.join(found.layers)}; {args.runs} runs each, alternating")
        print("| run | plain | confined | confined / plain | added |")
        print("| --- | --- | --- | --- | --- |")
        for name, argv in cases.items():
            plain, confined = [], []
            for _ in range(args.runs):
                plain.append(timed(argv))
                confined.append(timed(sandbox.confine(found, argv)))
            p, c = statistics.median(plain), statistics.median(confined)
            print(f"| {name} | {p * 1000:.0f} ms | {c * 1000:.0f} ms | {c / p:.2f} | {(c - p) * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
