"""The pure parts of recorder_common.metrics: method names and step outcomes."""
from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from recorder_common import metrics
from recorder_common.errors import InvalidArgument


def step_count(step: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("recorder_processing_step_seconds_count",
                                     {"step": step, "outcome": outcome}) or 0.0


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
