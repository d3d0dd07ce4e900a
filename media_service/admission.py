"""Who runs next in this media service: fair slots between owners, and one memory budget for all
concurrent ffmpegs.

The choice itself is a pure function on plain data (pick_owner); FairSlots and MemoryBudget only
keep the waiters and wake them in that order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

from recorder_common import metrics


def pick_owner(waiting: Sequence[str], running: Mapping[str, int], per_owner_cap: int = 0) -> str | None:
    """The owner whose oldest waiting request goes next, or None if nobody may start now.

    waiting: owners with a waiting request, in round-robin order (the owner served longest ago, or
    new, first). An owner at per_owner_cap (0: no cap) is passed over; of the others, the one with
    the fewest requests running goes first (so no owner gets a second slot while another owner
    with none waits), ties in round-robin order."""
    best: str | None = None
    for owner in waiting:
        count = running.get(owner, 0)
        if per_owner_cap and count >= per_owner_cap:
            continue
        if best is None or count < running.get(best, 0):
            best = owner
    return best


def within_caps(running: Mapping[str, int], owner: str, total_cap: int, per_owner_cap: int) -> bool:
    """Whether one more request of this owner may start now (for work that does not wait)."""
    return sum(running.values()) < total_cap and (not per_owner_cap or running.get(owner, 0) < per_owner_cap)


async def wait_granted(
    granted: asyncio.Future, kind: str, give_back: Callable[[], None], leave_queue: Callable[[], None]
) -> None:
    """Waits for a waiter's turn and records the wait (recorder_queue_wait_seconds of kind). If the
    caller goes away meanwhile: give_back what was granted just as it went, else leave_queue."""
    started = time.perf_counter()
    try:
        await granted
    except asyncio.CancelledError:
        if granted.done() and not granted.cancelled():
            give_back()  # admitted just as the caller went away
        else:
            leave_queue()
        raise
    metrics.QUEUE_WAIT_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)


class FairSlots:
    """At most `slots` requests at once, at most `per_owner_cap` (0: any) of one owner; waiters are
    admitted by pick_owner, first come first served within an owner. A waiter that is cancelled
    (its caller went away) leaves the queue."""

    def __init__(self, slots: int, per_owner_cap: int = 0, kind: str = "processing") -> None:
        self.slots = max(1, slots)
        self.per_owner_cap = max(0, per_owner_cap)
        self.kind = kind  # recorder_queue_depth / recorder_queue_wait_seconds label
        self.running: collections.Counter[str] = collections.Counter()
        self._waiting: collections.OrderedDict[str, collections.deque[asyncio.Future]] = collections.OrderedDict()
        metrics.track_queue(kind, self)

    @property
    def in_use(self) -> int:
        return sum(self.running.values())

    def waiting(self, owner: str | None = None) -> int:
        if owner is not None:
            return len(self._waiting.get(owner, ()))
        return sum(len(queue) for queue in self._waiting.values())

    @contextlib.asynccontextmanager
    async def slot(self, owner: str) -> AsyncIterator[None]:
        granted = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(owner, collections.deque()).append(granted)
        self._grant()
        await wait_granted(granted, self.kind, lambda: self._release(owner), lambda: self._forget(owner, granted))
        try:
            yield
        finally:
            self._release(owner)

    def _forget(self, owner: str, granted: asyncio.Future) -> None:
        queue = self._waiting.get(owner)
        if queue is not None:
            with contextlib.suppress(ValueError):
                queue.remove(granted)
            if not queue:
                del self._waiting[owner]
        self._grant()

    def _release(self, owner: str) -> None:
        self.running[owner] -= 1
        if self.running[owner] <= 0:
            del self.running[owner]
        self._grant()

    def _grant(self) -> None:
        while self.in_use < self.slots:
            owner = pick_owner(list(self._waiting), self.running, self.per_owner_cap)
            if owner is None:
                return
            queue = self._waiting[owner]
            granted = queue.popleft()
            if queue:
                self._waiting.move_to_end(owner)  # served: to the back of the round
            else:
                del self._waiting[owner]
            self.running[owner] += 1
            granted.set_result(None)


def split_memory_budget(total_bytes: int, watchable_share: float) -> tuple[int, int]:
    """(for the work that makes recordings watchable, for encodes and on-demand work): two
    budgets, so a copy, probe or thumbnail never waits behind an encode for memory."""
    share = min(max(watchable_share, 0.05), 0.95)
    watchable = max(1, int(total_bytes * share))
    return watchable, max(1, total_bytes - watchable)


class MemoryBudget:
    """The memory all concurrent ffmpegs of this process may be given, in bytes. Each run reserves
    its own limit (RLIMIT_DATA) before it starts and waits, first come first served, while that
    would overcommit; a run that asks for more than the whole budget runs alone."""

    def __init__(self, total_bytes: int) -> None:
        self.total = max(1, total_bytes)
        self.reserved = 0
        self._waiting: collections.deque[tuple[int, asyncio.Future]] = collections.deque()
        metrics.track_queue("ffmpeg_memory", self)

    def waiting(self) -> int:
        return len(self._waiting)

    async def acquire(self, nbytes: int) -> int:
        """Reserve; returns the amount to give back to release()."""
        amount = min(max(0, nbytes), self.total)
        if amount == 0:
            return 0
        granted = asyncio.get_running_loop().create_future()
        self._waiting.append((amount, granted))
        self._grant()
        await wait_granted(
            granted, "ffmpeg_memory", lambda: self.release(amount), lambda: self._forget(amount, granted)
        )
        return amount

    def _forget(self, amount: int, granted: asyncio.Future) -> None:
        with contextlib.suppress(ValueError):
            self._waiting.remove((amount, granted))
        self._grant()

    def release(self, amount: int) -> None:
        if amount:
            self.reserved -= amount
            self._grant()

    @contextlib.asynccontextmanager
    async def reserve(self, nbytes: int) -> AsyncIterator[None]:
        amount = await self.acquire(nbytes)
        try:
            yield
        finally:
            self.release(amount)

    def _grant(self) -> None:
        # First come first served: a large run at the head is not overtaken by small ones forever.
        while self._waiting and self.reserved + self._waiting[0][0] <= self.total:
            amount, granted = self._waiting.popleft()
            self.reserved += amount
            granted.set_result(None)
