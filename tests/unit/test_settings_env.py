"""Settings from the environment: a field's variable is its name in capitals unless renamed."""

from __future__ import annotations

import dataclasses

import pytest

from ingest_service.settings import IngestSettings
from media_service.settings import MediaSettings
from recorder_common import defaults


@dataclasses.dataclass(frozen=True)
class Example:
    host: str = "h"
    port: int = 1
    log_level: str = "INFO"
    retries: int = 3
    pause_seconds: float = 0.5
    name: str = "a"
    nested: tuple[int, ...] = ()  # not a scalar: not read


def test_every_scalar_field_but_the_service_ones_is_read_under_its_name_in_capitals():
    assert defaults.variables_by_name(Example) == {
        "retries": "RETRIES",
        "pause_seconds": "PAUSE_SECONDS",
        "name": "NAME",
    }
    assert defaults.variables_by_name(Example, {"retries": "EXAMPLE_RETRIES"}, skip={"name"}) == {
        "retries": "EXAMPLE_RETRIES",
        "pause_seconds": "PAUSE_SECONDS",
    }
    assert defaults.env_fields({"RETRIES": "5", "PAUSE_SECONDS": "2"}, Example) == {
        "retries": 5,
        "pause_seconds": 2.0,
        "name": "a",
    }


def test_a_renamed_field_that_is_not_there_is_refused():
    with pytest.raises(ValueError, match="retry"):
        defaults.variables_by_name(Example, {"retry": "RETRY"})


def test_the_services_read_their_plain_and_renamed_variables():
    ingest = IngestSettings.from_env({"JANITOR_INTERVAL_SECONDS": "7", "MAX_CHUNKS_PER_UPLOAD": "9"})
    assert (ingest.janitor_interval_seconds, ingest.limits.max_chunks) == (7.0, 9)
    media = MediaSettings.from_env(
        {
            "PLAYBACK_URL_SECONDS": "60",
            "MEDIA_LIVE_IDLE_SECONDS": "5",
            "PROCESSING_LEASE_SECONDS": "30",
            "MAX_VIDEO_PIXELS": "100",
            "MEDIA_MAX_CONCURRENT_JOBS": "3",
        }
    )
    assert (media.playback_url_seconds, media.live_idle_seconds, media.lease_seconds) == (60, 5.0, 30)
    assert (media.media_limits.max_video_pixels, media.max_concurrent_jobs) == (100, 3)
