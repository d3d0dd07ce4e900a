"""What bench/concurrent_recordings.py reads off the services: the live-encode policy counter and
the percentiles it prints."""
from __future__ import annotations

from bench._stack import percentile
from bench.concurrent_recordings import behind_counts

SCRAPE_WITHOUT = """# HELP recorder_live_sessions Live encode sessions running on this media service
# TYPE recorder_live_sessions gauge
recorder_live_sessions 0.0
"""

SCRAPE_WITH = SCRAPE_WITHOUT + """# HELP recorder_live_encodes_behind_total Live encodes that fell behind real time
# TYPE recorder_live_encodes_behind_total counter
recorder_live_encodes_behind_total{action="faster_preset"} 2.0
recorder_live_encodes_behind_total{action="requeue"} 1.0
recorder_live_encodes_behind_total{action="lower_height"} 0.0
"""


def test_a_media_service_without_the_counter_reads_not_available():
    assert behind_counts(SCRAPE_WITHOUT) == "n/a"


def test_the_counter_is_summed_with_each_action_that_happened():
    assert behind_counts(SCRAPE_WITH) == "3 (faster_preset 2, requeue 1)"


def test_a_counter_with_no_samples_yet_reads_zero():
    declared = SCRAPE_WITHOUT + "# TYPE recorder_live_encodes_behind_total counter\n"
    assert behind_counts(declared) == "0"


def test_percentiles_are_nearest_rank_so_a_small_run_reports_its_worst_as_p99():
    assert percentile([0.1, 0.2, 0.3, 5.0], 99) == 5.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
