"""Outbound calls between our services: message limits matching the server side, and calls that
always carry a deadline, our service identity, the end user they act for and the request id."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import grpc

from recorder_common import tracing
from recorder_common.errors import from_rpc_error
from recorder_common.auth import AUTHORIZATION_HEADER, ON_BEHALF_OF_HEADER, ServiceTokenSigner
from recorder_common.identity import REQUEST_ID_HEADER, outbound_request_id
from recorder_common.serving import message_options


# Spread calls over every address a target resolves to (several replicas behind one DNS name, or
# a list of addresses) instead of pick_first's single connection.
ROUND_ROBIN = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})


def channel_target(target: str) -> str:
    """gRPC's target for a setting: "host:port", "dns:///name:port" (every address the name
    resolves to), or a comma-separated list of IP:port (gRPC's ipv4:/ipv6: address lists)."""
    addresses = [a.strip() for a in target.split(",") if a.strip()]
    if len(addresses) <= 1:
        return target
    hosts = [a.rsplit(":", 1)[0].strip("[]") for a in addresses]
    try:
        versions = {ipaddress.ip_address(h).version for h in hosts}
    except ValueError:
        raise ValueError(
            f"an address list must hold IP:port pairs (for names use dns:///name:port): {target!r}"
        ) from None
    if len(versions) != 1:
        raise ValueError(f"an address list must be all IPv4 or all IPv6: {target!r}")
    return f"ipv{versions.pop()}:{','.join(addresses)}"


def open_channel(target: str, max_payload_bytes: int) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        channel_target(target),
        options=[*message_options(max_payload_bytes), ("grpc.service_config", ROUND_ROBIN)],
        interceptors=tracing.client_interceptors(),
    )  # carries traceparent to the next service


class InternalCaller:
    """Calls another of our services with our service token, on behalf of an owner (or of nobody,
    for service-level housekeeping). A failed call comes back as the matching domain error."""

    def __init__(self, signer: ServiceTokenSigner, target_name: str, deadline_seconds: float) -> None:
        self.signer = signer
        self.target_name = target_name
        self.deadline = deadline_seconds

    def metadata(self, owner_id: str | None) -> tuple[tuple[str, str], ...]:
        metadata = [(AUTHORIZATION_HEADER, f"Bearer {self.signer.token()}"), (REQUEST_ID_HEADER, outbound_request_id())]
        if owner_id is not None:
            metadata.append((ON_BEHALF_OF_HEADER, owner_id))
        return tuple(metadata)

    async def __call__(self, method: Any, request: Any, owner_id: str | None) -> Any:
        try:
            return await method(request, timeout=self.deadline, metadata=self.metadata(owner_id))
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc, self.target_name) from exc
