"""How many rows one housekeeping listing returns (the catalog's and the webhook deliveries')."""

from __future__ import annotations

DEFAULT_HOUSEKEEPING_BATCH = 100
MAX_HOUSEKEEPING_BATCH = 1000


def housekeeping_batch(limit: int) -> int:
    """The caller's limit, 0 meaning the default, within bounds."""
    return max(1, min(limit or DEFAULT_HOUSEKEEPING_BATCH, MAX_HOUSEKEEPING_BATCH))
