"""The media service's admission rules, as pure logic: who goes next, per-owner caps, and the
memory budget. No ffmpeg, no servers: plain data and asyncio futures."""

from __future__ import annotations

import asyncio

import pytest

from media_service.admission import FairSlots, MemoryBudget, pick_owner, within_caps
from media_service.runner import FfmpegLimits, bound_seconds


class Held:
    """Requests through slots that note their name when admitted and keep the slot until hold is set."""

    def __init__(self, slots: FairSlots) -> None:
        self.slots, self.hold = slots, asyncio.Event()
        self.started: list[str] = []

    async def request(self, owner: str, name: str) -> None:
        async with self.slots.slot(owner):
            self.started.append(name)
            await self.hold.wait()


# ---- pick_owner ---------------------------------------------------------------------------------
def test_an_owner_without_a_running_request_goes_before_one_with():
    assert pick_owner(["a", "b"], {"a": 1}) == "b"


def test_ties_go_in_round_robin_order():
    assert pick_owner(["b", "a", "c"], {}) == "b"
    assert pick_owner(["b", "a", "c"], {"b": 1, "a": 1, "c": 1}) == "b"


def test_an_owner_at_the_cap_is_passed_over_and_none_when_all_are():
    assert pick_owner(["a", "b"], {"a": 1}, per_owner_cap=1) == "b"
    assert pick_owner(["a"], {"a": 1}, per_owner_cap=1) is None
    assert pick_owner([], {}) is None


def test_within_caps():
    assert within_caps({}, "a", total_cap=2, per_owner_cap=1)
    assert not within_caps({"a": 1}, "a", total_cap=2, per_owner_cap=1)
    assert within_caps({"a": 1}, "b", total_cap=2, per_owner_cap=1)
    assert not within_caps({"a": 1, "b": 1}, "c", total_cap=2, per_owner_cap=1)
    assert within_caps({"a": 1}, "a", total_cap=2, per_owner_cap=0)


# ---- FairSlots --------------------------------------------------------------------------------
async def run_in_order(slots: FairSlots, requests: list[tuple[str, str]]) -> list[str]:
    """Queue every request at once (while the slots are held), then let them run one by one;
    returns the order in which they were admitted."""
    order: list[str] = []
    gate = asyncio.Event()
    release: dict[str, asyncio.Event] = {name: asyncio.Event() for _, name in requests}

    async def request(owner: str, name: str) -> None:
        async with slots.slot(owner):
            order.append(name)
            await release[name].wait()

    async def blocker() -> None:
        async with slots.slot("holder"):
            await gate.wait()

    blockers = [asyncio.create_task(blocker()) for _ in range(slots.slots)]
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(request(owner, name)) for owner, name in requests]
    await asyncio.sleep(0)
    assert order == [] and slots.waiting() == len(requests)
    gate.set()
    while len(order) < len(requests):
        await asyncio.sleep(0)
        for name in order:
            release[name].set()
    await asyncio.gather(*tasks, *blockers)
    return order


async def test_waiting_work_is_admitted_round_robin_between_owners_fifo_within_one():
    order = await run_in_order(
        FairSlots(1),
        [("mallory", "m1"), ("mallory", "m2"), ("mallory", "m3"), ("alice", "a1"), ("bob", "b1"), ("alice", "a2")],
    )
    assert order == ["m1", "a1", "b1", "m2", "a2", "m3"]


async def test_an_owner_never_gets_a_second_slot_while_another_owner_waits():
    slots = FairSlots(2)
    holds = {name: asyncio.Event() for name in ("m1", "x1", "m2", "a1")}
    started: list[str] = []

    async def request(owner: str, name: str) -> None:
        async with slots.slot(owner):
            started.append(name)
            await holds[name].wait()

    running = [asyncio.create_task(request("mallory", "m1")), asyncio.create_task(request("xavier", "x1"))]
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(request(o, n)) for o, n in [("mallory", "m2"), ("alice", "a1")]]
    await asyncio.sleep(0)
    assert started == ["m1", "x1"] and slots.waiting() == 2
    holds["x1"].set()  # a slot frees: m2 waited longer, but mallory already runs one
    while len(started) < 3:
        await asyncio.sleep(0)
    assert started == ["m1", "x1", "a1"] and slots.running == {"mallory": 1, "alice": 1}
    for hold in holds.values():
        hold.set()
    await asyncio.gather(*running, *waiting)
    assert started == ["m1", "x1", "a1", "m2"] and slots.in_use == 0


async def test_free_slots_are_used_even_by_one_owner_when_nobody_else_waits():
    slots = FairSlots(2)
    held = Held(slots)
    tasks = [asyncio.create_task(held.request("mallory", f"m{i}")) for i in range(3)]
    await asyncio.sleep(0)
    assert held.started == ["m0", "m1"] and slots.waiting("mallory") == 1
    held.hold.set()
    await asyncio.gather(*tasks)


async def test_the_per_owner_cap_holds_even_with_free_slots():
    slots = FairSlots(3, per_owner_cap=1)
    held = Held(slots)
    tasks = [asyncio.create_task(held.request("mallory", f"m{i}")) for i in range(3)]
    await asyncio.sleep(0)
    assert held.started == ["m0"] and slots.in_use == 1
    held.hold.set()
    await asyncio.gather(*tasks)
    assert held.started == ["m0", "m1", "m2"]


async def test_a_waiter_whose_caller_goes_away_leaves_the_queue_and_frees_nothing_it_did_not_hold():
    slots = FairSlots(1)
    held = Held(slots)
    holder = asyncio.create_task(held.request("alice", "a1"))
    await asyncio.sleep(0)
    gone = asyncio.create_task(held.request("mallory", "m1"))
    after = asyncio.create_task(held.request("bob", "b1"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert slots.waiting() == 1 and slots.in_use == 1
    held.hold.set()
    await asyncio.gather(holder, after)
    assert held.started == ["a1", "b1"] and slots.in_use == 0 and slots.waiting() == 0


async def test_a_cancelled_holder_gives_its_slot_back():
    slots = FairSlots(1)

    async def forever() -> None:
        async with slots.slot("alice"):
            await asyncio.Event().wait()

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    assert slots.in_use == 1
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert slots.in_use == 0 and slots.running == {}


# ---- MemoryBudget -------------------------------------------------------------------------------
async def test_memory_admission_waits_rather_than_overcommits():
    budget = MemoryBudget(10)
    first = await budget.acquire(6)
    waiting = asyncio.create_task(budget.acquire(6))
    await asyncio.sleep(0)
    assert not waiting.done() and budget.reserved == 6
    budget.release(first)
    assert await waiting == 6 and budget.reserved == 6


async def test_memory_is_granted_first_come_first_served_so_a_large_run_is_not_starved():
    budget = MemoryBudget(10)
    held = await budget.acquire(4)
    large = asyncio.create_task(budget.acquire(10))
    await asyncio.sleep(0)
    small = asyncio.create_task(budget.acquire(2))  # would fit now, but the large one is first
    await asyncio.sleep(0)
    assert not large.done() and not small.done()
    budget.release(held)
    await asyncio.sleep(0)
    assert large.done() and not small.done()
    budget.release(await large)
    assert await small == 2


async def test_a_run_larger_than_the_budget_runs_alone_and_zero_reserves_nothing():
    budget = MemoryBudget(10)
    assert await budget.acquire(50) == 10
    assert await budget.acquire(0) == 0
    waiting = asyncio.create_task(budget.acquire(1))
    await asyncio.sleep(0)
    assert not waiting.done()
    budget.release(10)
    assert await waiting == 1


async def test_a_cancelled_memory_waiter_leaves_the_queue():
    budget = MemoryBudget(10)
    held = await budget.acquire(10)
    gone = asyncio.create_task(budget.acquire(5))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    budget.release(held)
    assert budget.reserved == 0
    async with budget.reserve(10):
        assert budget.reserved == 10
    assert budget.reserved == 0


# ---- step bounds --------------------------------------------------------------------------------
@pytest.mark.parametrize("media_seconds, expected", [(0, 60), (1, 60), (5, 100), (100, 2000), (36000, 3600)])
def test_step_bounds_follow_the_media_duration_with_a_floor_and_a_cap(media_seconds, expected):
    assert bound_seconds(media_seconds, floor=60, per_media_second=20, cap=3600) == expected


def test_limits_for_media_narrow_the_caps_and_unknown_media_keeps_them():
    caps = FfmpegLimits(timeout_seconds=3600, cpu_seconds=7200, floor_seconds=60, seconds_per_media_second=20)
    five = caps.for_media(5)
    assert (five.timeout_seconds, five.cpu_seconds) == (100, 100)
    ten_hours = caps.for_media(36000)
    assert (ten_hours.timeout_seconds, ten_hours.cpu_seconds) == (3600, 7200)
    assert caps.for_media(None) == caps and caps.for_media(float("nan")) == caps
    assert caps.quick().cpu_seconds == 60


def test_the_watchable_work_has_its_own_share_of_the_memory_budget():
    from media_service.admission import split_memory_budget

    assert split_memory_budget(12 << 30, 0.25) == (3 << 30, 9 << 30)
    cheap, rest = split_memory_budget(100, 2.0)  # clamped: each side keeps something
    assert 0 < cheap < 100 and rest > 0 and cheap + rest == 100


def test_encodes_run_niced_and_everything_else_at_normal_priority():
    import dataclasses
    from media_service import runner

    plain = runner.FfmpegLimits()
    argv = runner.spawn_argv(["ffmpeg", "-version"], plain)
    assert "nice" not in " ".join(argv[:-2])
    niced = runner.spawn_argv(["ffmpeg", "-version"], dataclasses.replace(plain, niceness=10))
    if runner.NICE is not None:
        at = niced.index(runner.NICE)
        assert niced[at + 1 : at + 3] == ["-n", "10"] and niced[-2:] == ["ffmpeg", "-version"]
    assert "chrt" not in " ".join(niced)


def test_an_idle_class_run_runs_in_sched_idle_at_its_niceness():
    """Executed, not only spelled: the wrappers must hand the command on as it is."""
    import dataclasses
    import os
    import subprocess
    import sys

    from media_service import runner

    if runner.CHRT is None or runner.NICE is None:
        pytest.skip("chrt and nice are util-linux and coreutils tools: Linux only")
    limits = dataclasses.replace(runner.FfmpegLimits(), niceness=10, idle_class=True)
    probe = "import os; print(os.sched_getscheduler(0), os.nice(0))"
    out = subprocess.run(runner.spawn_argv([sys.executable, "-c", probe], limits), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(os.SCHED_IDLE), str(min(os.nice(0) + 10, 19))]


def test_a_still_reserves_less_than_an_encode_and_never_more_than_the_cap():
    from media_service import runner

    capped = runner.FfmpegLimits(max_memory_bytes=4 << 30)
    assert capped.still().max_memory_bytes == runner.STILL_MEMORY_BYTES < 4 << 30
    assert runner.FfmpegLimits(max_memory_bytes=100 << 20).still().max_memory_bytes == 100 << 20


async def test_thirty_two_live_remuxes_and_four_thumbnails_fit_the_watchable_share_of_a_24_gib_machine():
    """A live remux holds its reservation for the whole recording. At the copy bound (512 MiB) the
    default watchable share of a 24 GiB machine (half the RAM, half of that) granted 12: the 13th
    recording's session waited, fell behind, and its READY waited at stop."""
    from media_service import runner
    from media_service.admission import split_memory_budget
    from media_service.settings import MediaSettings

    defaults = MediaSettings()
    watchable, _ = split_memory_budget(12 << 30, defaults.watchable_memory_share)
    budget = MemoryBudget(watchable)
    limits = FfmpegLimits(max_memory_bytes=defaults.ffmpeg_max_memory_mb << 20)
    live_remux = limits.copying(runner.LIVE_COPY_MEMORY_BYTES).max_memory_bytes
    for _ in range(32):
        await asyncio.wait_for(budget.acquire(live_remux), 1)
    for _ in range(4):
        await asyncio.wait_for(budget.acquire(limits.still().max_memory_bytes), 1)
    assert budget.waiting() == 0
