"""Fill gateway/envoy.yaml's ${NAME} placeholders from the environment (with local defaults), and
write its routes: one per PUBLIC RPC of the access policy (recorder_common/policy.py), none other.

python -m gateway.render OUT.yaml
"""

from __future__ import annotations

import dataclasses
import pathlib
import string
import sys
from collections.abc import Mapping

from recorder_common import defaults
from recorder_common.auth import DEFAULT_MAX_TOKEN_LIFETIME_SECONDS, max_token_lifetime
from recorder_common.policy import POLICY, Access

TEMPLATE = pathlib.Path(__file__).with_name("envoy.yaml")

DEFAULTS = {
    "GATEWAY_BIND": defaults.HOST,
    "GATEWAY_PORT": str(defaults.GATEWAY_PORT),
    "INGEST_HOST": defaults.HOST,
    "INGEST_PORT": str(defaults.INGEST_PORT),
    "MEDIA_HOST": defaults.HOST,
    "MEDIA_PORT": str(defaults.MEDIA_PORT),
    "PLAYBACK_PORT": str(defaults.PLAYBACK_PORT),
    "CATALOG_HOST": defaults.HOST,
    "CATALOG_PORT": str(defaults.CATALOG_PORT),
    # extension/'s origin: its id is pinned by the public key in extension/manifest.json.
    "EXTENSION_ORIGIN": "chrome-extension://baafeiakklliidfcgofccfkifabnjfdp",
    # The identity provider whose user tokens the gateway accepts (the development one by default).
    "AUTH_ISSUER": "recorder-dev",
    "AUTH_AUDIENCE": "recorder",
    "AUTH_JWKS_FILE": f"{defaults.AUTH_DIR}/users.jwks.json",
    "AUTH_MAX_TOKEN_LIFETIME_SECONDS": str(DEFAULT_MAX_TOKEN_LIFETIME_SECONDS),
    # Local test pages.
    "DEV_ORIGIN_REGEX": r"^http://(localhost|127\.0\.0\.1)(:[0-9]+)?$",
}


def endpoints(addresses: str) -> str:
    """YAML lb_endpoints for "host:port,host:port" (replicas Envoy balances over; a DNS name that
    resolves to several addresses counts as several, as the clusters are STRICT_DNS)."""
    lines = []
    for address in (a.strip() for a in addresses.split(",") if a.strip()):
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {address!r}")
        lines += [
            "        - endpoint:",
            "            address:",
            f'              socket_address: {{ address: "{host.strip("[]")}", port_value: {int(port)} }}',
        ]
    if not lines:
        raise ValueError("no upstream address")
    return "\n".join(lines)


# Which upstream cluster serves each of our services.
CLUSTERS = {
    "recorder.v1.IngestService": "ingest",
    "recorder.v1.CatalogService": "catalog",
    "recorder.v1.MediaService": "media",
}


@dataclasses.dataclass(frozen=True)
class RouteOptions:
    timeout: str = "30s"
    retry_on: str | None = None
    num_retries: int = 0


# Routes that differ from a plain 30 s unary call, and why.
ROUTE_OPTIONS = {
    # A chunk is idempotent (same index and bytes: DUPLICATE), so one that a replica refused or
    # dropped is resent to another (Envoy can do so while the body fits its 1 MiB buffer; larger
    # chunks are retried by the client, which it must do anyway).
    "/recorder.v1.IngestService/PutChunk": RouteOptions(
        "120s", retry_on="connect-failure,refused-stream,reset,unavailable", num_retries=2
    ),
    # A client stream lasts as long as the upload; the ingest service bounds idle streams and
    # Envoy's stream idle timeout still applies.
    "/recorder.v1.IngestService/Upload": RouteOptions("0s"),
    # A server stream lasts as long as processing: no route timeout.
    "/recorder.v1.CatalogService/WatchVideo": RouteOptions("0s"),
    # On-demand outputs run ffmpeg: audio of a long recording takes a while.
    "/recorder.v1.MediaService/ExtractAudio": RouteOptions("600s"),
    "/recorder.v1.MediaService/MakeThumbnail": RouteOptions("120s"),
    "/recorder.v1.MediaService/MakePreview": RouteOptions("120s"),
    # A download streams as long as it takes; Envoy's stream idle timeout still applies.
    "/recorder.v1.MediaService/Download": RouteOptions("0s"),
}


def public_routes(policy: Mapping[str, Access] = POLICY) -> str:
    """YAML routes for exactly the policy's PUBLIC RPCs, each matched by its full path."""
    strays = [m for m in ROUTE_OPTIONS if policy.get(m) is not Access.PUBLIC]
    if strays:
        raise ValueError(f"route options for RPCs that are not PUBLIC: {strays}")
    lines = []
    for method, access in policy.items():
        if access is not Access.PUBLIC:
            continue
        service = method.strip("/").split("/")[0]
        if service not in CLUSTERS:
            raise ValueError(f"no gateway cluster for {service} (public RPC {method})")
        options = ROUTE_OPTIONS.get(method, RouteOptions())
        lines.append(f'              - match: {{ path: "{method}" }}')
        route = f"cluster: {CLUSTERS[service]}, timeout: {options.timeout}"
        if options.retry_on:
            route += f', retry_policy: {{ retry_on: "{options.retry_on}", num_retries: {options.num_retries} }}'
        lines.append(f"                route: {{ {route} }}")
    return "\n".join(lines)


def render(env: Mapping[str, str]) -> str:
    values = {name: env.get(name, default) for name, default in DEFAULTS.items()}
    for service in ("INGEST", "MEDIA", "CATALOG"):
        # <SERVICE>_ADDRESSES lists replicas; else the one <SERVICE>_HOST:<SERVICE>_PORT.
        values[f"{service}_ENDPOINTS"] = endpoints(
            env.get(f"{service}_ADDRESSES") or f"{values[service + '_HOST']}:{values[service + '_PORT']}"
        )
    # Each media replica's playback server: PLAYBACK_ADDRESSES, else MEDIA_HOST:PLAYBACK_PORT.
    values["PLAYBACK_ENDPOINTS"] = endpoints(
        env.get("PLAYBACK_ADDRESSES") or f"{values['MEDIA_HOST']}:{values['PLAYBACK_PORT']}"
    )
    values["AUTH_MAX_TOKEN_LIFETIME_SECONDS"] = str(max_token_lifetime(env))  # refuse a bad value here
    values["PUBLIC_ROUTES"] = public_routes()
    return string.Template(TEMPLATE.read_text()).substitute(values)


def main() -> None:
    import os

    out = pathlib.Path(sys.argv[1])
    out.write_text(render(os.environ))


if __name__ == "__main__":
    main()
