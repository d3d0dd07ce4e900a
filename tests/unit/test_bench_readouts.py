"""What bench/concurrent_recordings.py reads off the services: the live-encode policy counter (in
the text prometheus_client serves) and the percentiles it prints."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from bench._stack import percentile
from bench.concurrent_recordings import behind_counts


def scrape(actions: dict[str, int] | None) -> str:
    """A media service's /metrics, with the behind counter (declared as recorder_common.metrics
    does) when `actions` is given."""
    registry = CollectorRegistry()
    Gauge("recorder_live_sessions", "Live encode sessions", registry=registry).set(0)
    if actions is not None:
        behind = Counter("recorder_live_encodes_behind", "Live encodes that fell behind", ["action"], registry=registry)
        for action, count in actions.items():
            behind.labels(action=action).inc(count)
    return generate_latest(registry).decode()


def test_a_media_service_without_the_counter_reads_not_available():
    assert behind_counts(scrape(None)) == "n/a"


def test_the_counter_is_summed_with_each_action_that_happened():
    assert (
        behind_counts(scrape({"requeue": 2, "faster_preset": 1, "lower_height": 0})) == "3 (faster_preset 1, requeue 2)"
    )


def test_a_counter_with_no_samples_yet_reads_zero():
    assert behind_counts(scrape({})) == "0"


def test_percentiles_are_nearest_rank_so_a_small_run_reports_its_worst_as_p99():
    assert percentile([0.1, 0.2, 0.3, 5.0], 99) == 5.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
