"""Encode scheduling policy on plain data: capacity in cores, and a live encode behind real time
(fed speed samples on a fake clock)."""

from __future__ import annotations

from media_service.scheduler import EncodeCapacity, LagPolicy, LiveAction


def test_live_encodes_start_only_while_the_cores_allow():
    capacity = EncodeCapacity(cores=2.0, live_cost=0.45)
    started = sum(capacity.try_start_live() for _ in range(10))
    assert started == 4  # 4 x 0.45 = 1.8 cores; a fifth would overcommit
    assert capacity.try_start_queued() == 0  # 0.2 cores free: no queued encode now
    capacity.end_live()
    capacity.end_live()
    assert capacity.try_start_queued() == 1  # 2 - 2 x 0.45 = 1.1 cores: one thread
    assert not capacity.try_start_live()  # the queued encode holds that core
    capacity.end_queued(1)
    assert capacity.try_start_live()


def test_a_queued_encode_takes_every_free_core():
    capacity = EncodeCapacity(cores=8.0, live_cost=0.5)
    assert capacity.try_start_live()
    assert capacity.try_start_queued() == 7
    assert capacity.try_start_queued() == 0


def test_no_live_encodes_when_cost_is_zero_or_capacity_is_less_than_one():
    assert not EncodeCapacity(cores=2.0, live_cost=0.0).try_start_live()
    assert not EncodeCapacity(cores=0.4, live_cost=0.45).try_start_live()


def feed(policy: LagPolicy, samples):
    return [policy.sample(now, arrived, encoded) for now, arrived, encoded in samples]


def test_an_encode_that_keeps_up_is_kept():
    policy = LagPolicy(max_lag_seconds=10, grace_seconds=5)
    # The recording arrives at 1x; the encoder runs at 1.2x until it catches up with the input.
    actions = feed(policy, [(t, float(t), min(float(t), 1.2 * t)) for t in range(0, 120)])
    assert set(actions) == {LiveAction.KEEP}


def test_an_encode_that_falls_behind_is_requeued_after_the_grace():
    policy = LagPolicy(max_lag_seconds=10, grace_seconds=5)
    # At 0.6x: 10 s behind at t = 25, still behind at t = 30.
    actions = feed(policy, [(t, float(t), 0.6 * t) for t in range(0, 40)])
    first = actions.index(LiveAction.REQUEUE)
    assert 25 <= first <= 31
    assert all(a is LiveAction.KEEP for a in actions[:first])


def test_a_short_stall_within_the_grace_is_not_behind():
    policy = LagPolicy(max_lag_seconds=10, grace_seconds=5)
    samples = [(t, float(t), float(t)) for t in range(0, 20)]
    samples += [(20 + t, 20.0 + t, 8.0) for t in range(0, 4)]  # 12-15 s behind for 3 s
    samples += [(24 + t, 24.0 + t, 24.0 + t) for t in range(0, 20)]  # then caught up
    assert set(feed(policy, samples)) == {LiveAction.KEEP}


def test_a_finished_file_sent_at_full_speed_goes_to_the_queue():
    policy = LagPolicy(max_lag_seconds=10, grace_seconds=5)
    # 60 s of media arrive per wall second; the encoder does 1.5x real time.
    actions = feed(policy, [(t, min(600.0, 60.0 * t), 1.5 * t) for t in range(0, 10)])
    assert LiveAction.REQUEUE in actions
    assert actions.index(LiveAction.REQUEUE) <= 6
