"""A dependency-free terminal progress bar (to stderr, so stdout stays parseable)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    def __init__(self, total: int, label: str = "upload", width: int = 30, stream=None) -> None:
        self.total = max(total, 1)
        self.label = label
        self.width = width
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0

    def update(self, done: int, force: bool = False) -> None:
        self.done = min(done, self.total)
        now = time.monotonic()
        if force or now - self._last_draw >= 0.1 or self.done == self.total:
            self._last_draw = now
            self.stream.write("\r" + self.render(now))
            self.stream.flush()

    def render(self, now: float | None = None) -> str:
        now = now or time.monotonic()
        fraction = self.done / self.total
        filled = int(fraction * self.width)
        rate = self.done / max(now - self.started, 1e-6) / (1024 * 1024)
        return (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}% "
            f"{self.done / 1048576:.1f}/{self.total / 1048576:.1f} MiB {rate:.1f} MiB/s"
        )

    def close(self) -> None:
        self.update(self.done, force=True)
        self.stream.write("\n")
        self.stream.flush()
