"""The pure parts of recorder_common.metrics: method names and step outcomes."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from recorder_common import metrics
from recorder_common.errors import InvalidArgument


def step_count(step: str, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("recorder_processing_step_seconds_count", {"step": step, "outcome": outcome}) or 0.0
    )


def test_split_method():
    assert metrics.split_method("/recorder.v1.IngestService/PutChunk") == ("recorder.v1.IngestService", "PutChunk")
    assert metrics.split_method("garbage") == ("unknown", "garbage")


async def test_a_timed_step_counts_its_outcome():
    @metrics.timed_step("UNIT_OK")
    async def fine():
        return 7

    @metrics.timed_step("UNIT_FAILED")
    async def refused():
        raise InvalidArgument("bad input")

    @metrics.timed_step("UNIT_ERROR")
    async def broken():
        raise RuntimeError("bug")

    @metrics.timed_step("UNIT_CANCELLED")
    async def cut_short():
        raise asyncio.CancelledError

    assert await fine() == 7
    with pytest.raises(InvalidArgument):
        await refused()
    with pytest.raises(RuntimeError):
        await broken()
    with pytest.raises(asyncio.CancelledError):
        await cut_short()
    assert step_count("UNIT_OK", "ok") == 1
    assert step_count("UNIT_FAILED", "failed") == 1
    assert step_count("UNIT_ERROR", "error") == 1
    assert step_count("UNIT_CANCELLED", "cancelled") == 1


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_queue_depth_and_wait_by_work_kind():
    from media_service.admission import FairSlots, MemoryBudget

    slots = FairSlots(1, kind="unit_kind")
    waits_before = sample("recorder_queue_wait_seconds_count", kind="unit_kind")
    inside = asyncio.Event()
    release = asyncio.Event()

    async def hold():
        async with slots.slot("alice"):
            inside.set()
            await release.wait()

    async def queued():
        async with slots.slot("bob"):
            pass

    holder = asyncio.create_task(hold())
    await inside.wait()
    waiter = asyncio.create_task(queued())
    while slots.waiting() == 0:
        await asyncio.sleep(0)
    assert sample("recorder_queue_depth", kind="unit_kind") == 1
    release.set()
    await asyncio.gather(holder, waiter)
    assert sample("recorder_queue_depth", kind="unit_kind") == 0
    assert sample("recorder_queue_wait_seconds_count", kind="unit_kind") == waits_before + 2
    budget = MemoryBudget(100)
    async with budget.reserve(60):
        assert sample("recorder_queue_depth", kind="ffmpeg_memory") == 0


def test_live_lag_gauge_reads_the_live_encodes_running_now():
    class Encoders:
        lags = {"a": 1.5, "b": 4.0}

    encoders = Encoders()
    metrics.track_live_encoders(encoders)
    assert sample("recorder_live_encode_lag_max_seconds") == 4.0
    encoders.lags = {}
    assert sample("recorder_live_encode_lag_max_seconds") == 0.0
