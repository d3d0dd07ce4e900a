"""Compression profiles on a generated screen-like clip: speed, size and SSIM, one run.

    .venv/bin/python bench/compression_profiles.py [--seconds 30] [--profiles h264,h264-small,vp9,av1]

The clip is 1280x720 at 30 fps, VP8/Opus WebM at about 2.5 Mbit/s as Chrome's MediaRecorder writes
it: a mostly still "desktop" (ffmpeg's testsrc with its counter) with a 480x270 moving window
(testsrc2) drifting across it, and a tone. Each profile runs the media service's own ffmpeg command
(media_service.commands.compress_args). Printed per profile: encode speed as x realtime, output
size as a fraction of the input, SSIM of the output against the input (1.0 = identical), and speed
and size as ratios of the default h264 profile measured in the same run.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from bench._media import make_screen_clip  # noqa: E402
from media_service import commands  # noqa: E402
from media_service.containers import Container  # noqa: E402
from media_service.settings import PROFILES, find_ffmpeg  # noqa: E402


def ssim(ffmpeg: str, encoded: pathlib.Path, reference: pathlib.Path) -> float:
    result = subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-hide_banner",
            "-i",
            str(encoded),
            "-i",
            str(reference),
            "-lavfi",
            "[0:v][1:v]scale2ref=flags=bicubic[a][b];[a][b]ssim",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    match = re.search(r"SSIM .*All:([0-9.]+)", result.stderr)
    if not match:
        raise RuntimeError(f"no SSIM in ffmpeg's output: {result.stderr[-500:]}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--profiles", default=",".join(PROFILES))
    args = parser.parse_args()
    ffmpeg = find_ffmpeg()
    names = args.profiles.split(",")
    if "h264" not in names:
        names.insert(0, "h264")  # the baseline
    with tempfile.TemporaryDirectory() as folder:
        work = pathlib.Path(folder)
        clip = work / "screen.webm"
        make_screen_clip(ffmpeg, clip, args.seconds)
        print(f"input: {args.seconds:.0f} s 1280x720 VP8/Opus, {clip.stat().st_size / 1e6:.1f} MB; ffmpeg {ffmpeg}")
        rows = {}
        for name in names:
            profile = PROFILES[name]
            out = work / f"out-{name}.{profile.extension}"
            argv = commands.compress_args(
                ffmpeg, str(clip), Container.WEBM, str(out), profile, has_video=True, has_audio=True, max_bytes=1 << 40
            )
            started = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True, timeout=3600)
            elapsed = time.perf_counter() - started
            rows[name] = (
                args.seconds / elapsed,
                out.stat().st_size / clip.stat().st_size,
                ssim(ffmpeg, out, clip),
                elapsed,
            )
        base_speed, base_size = rows["h264"][0], rows["h264"][1]
        print(
            f"{'profile':<11} {'codec':<11} {'speed':>9} {'size/input':>10} {'SSIM':>7} "
            f"{'speed vs h264':>14} {'size vs h264':>13}"
        )
        for name, (speed, size, quality, elapsed) in rows.items():
            profile = PROFILES[name]
            print(
                f"{name:<11} {profile.video_codec:<11} {speed:>8.1f}x {size:>10.3f} {quality:>7.4f} "
                f"{speed / base_speed:>14.2f} {size / base_size:>13.2f}"
            )


if __name__ == "__main__":
    main()
