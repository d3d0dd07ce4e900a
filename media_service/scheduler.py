"""Which encodes run, on plain data: encode capacity in cores, and the policy for a live encode
that falls behind real time. No I/O and no clock of its own (callers pass `now`), so tests drive
it with fed samples.

Cheap work (assemble, the live remux copy, probe, thumbnail) is not scheduled here: it runs for
every upload. Encodes are: a live encode costs about `live_cost` cores for as long as the
recording lasts, so at most floor(cores / live_cost) run at once; a queued encode (after stop,
from the original) takes every core the live encodes leave free, as ffmpeg threads, and starts
only when at least one is free. Live encodes come first: a live one can only start now, a queued
one can wait.
"""

from __future__ import annotations

import dataclasses
import enum
import math


@dataclasses.dataclass
class EncodeCapacity:
    cores: float  # what this replica's encodes may use together
    live_cost: float  # cores one real-time live encode uses
    live: int = 0  # live encodes running
    queued_threads: int = 0  # threads held by queued encodes running

    def free_cores(self) -> float:
        return self.cores - self.live * self.live_cost - self.queued_threads

    def try_start_live(self) -> bool:
        """Take capacity for one more live encode, if the cores are there."""
        if self.live_cost <= 0 or self.free_cores() < self.live_cost - 1e-9:
            return False
        self.live += 1
        return True

    def end_live(self) -> None:
        self.live = max(0, self.live - 1)

    def try_start_queued(self) -> int:
        """Threads for a queued encode (every whole free core), or 0 when none is free."""
        threads = math.floor(self.free_cores() + 1e-9)
        if threads < 1:
            return 0
        self.queued_threads += threads
        return threads

    def end_queued(self, threads: int) -> None:
        self.queued_threads = max(0, self.queued_threads - threads)


class LiveAction(enum.Enum):
    KEEP = "keep"
    # The one policy for a live encode behind real time: stop it and give the rendition back to the
    # queue, to be encoded from the original after stop (with all free cores). Never silently slow
    # the whole machine down.
    REQUEUE = "requeued"


@dataclasses.dataclass
class LagPolicy:
    """Judges one live encode from samples of how much media has arrived (the live remux's
    position: it copies, so it keeps up with the input) and how much the encoder has done
    (ffmpeg's progress). Behind means more than max_lag_seconds of media behind the arrived media
    for at least grace_seconds in a row, so ffmpeg's start-up or a burst of chunks that came
    together does not count. A recording sent much faster than real time (a finished file) is
    behind by this definition: its compressed rendition is made from the queue. `speed` (media
    seconds encoded per wall second since the first sample) is kept for the log line."""

    max_lag_seconds: float = 10.0
    grace_seconds: float = 5.0
    started_at: float | None = None
    behind_since: float | None = None
    lag_seconds: float = 0.0
    speed: float | None = None

    def sample(self, now: float, arrived_seconds: float, encoded_seconds: float) -> LiveAction:
        if self.started_at is None:
            self.started_at = now
        self.lag_seconds = max(0.0, arrived_seconds - encoded_seconds)
        running = now - self.started_at
        self.speed = encoded_seconds / running if running > 0 else None
        if self.lag_seconds <= self.max_lag_seconds:
            self.behind_since = None
            return LiveAction.KEEP
        if self.behind_since is None:
            self.behind_since = now
        return LiveAction.REQUEUE if now - self.behind_since >= self.grace_seconds else LiveAction.KEEP
