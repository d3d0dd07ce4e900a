"""bench/concurrent_recordings.py in its smallest form, so it keeps running as the API changes
(it is a bench, not a test: no figure is asserted, only that it measures and prints its table)."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_concurrent_recordings_bench_prints_a_row_for_one_short_recording(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "concurrent_recordings.py"),
            "--n",
            "1",
            "--seconds",
            "4",
            "--size",
            "640x360",
            "--skip-long",
        ],
        env={**os.environ, "BENCH_CACHE": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| recordings at once | stop → READY" in result.stdout
    row = re.search(
        r"^\| 1 \| ([0-9.]+) / ([0-9.]+) / ([0-9.]+) s \| ([0-9.]+) / [0-9.]+ / [0-9.]+ s \| ([0-9]+) ms \|",
        result.stdout,
        re.M,
    )
    assert row, result.stdout
    ready_p50, compressed_p50 = float(row.group(1)), float(row.group(4))
    assert 0 < ready_p50 <= compressed_p50  # watchable never after the compressed copy
    assert list((tmp_path / "cache").glob("screen-640x360-4s-*.webm"))  # generated once, in the cache
