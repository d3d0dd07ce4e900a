"""Fill gateway/envoy.yaml's ${NAME} placeholders from the environment (with local defaults).

python -m gateway.render OUT.yaml
"""
from __future__ import annotations

import pathlib
import string
import sys
from collections.abc import Mapping

TEMPLATE = pathlib.Path(__file__).with_name("envoy.yaml")

DEFAULTS = {
    "GATEWAY_BIND": "127.0.0.1",
    "GATEWAY_PORT": "8080",
    "INGEST_HOST": "127.0.0.1",
    "INGEST_PORT": "50063",
    "MEDIA_HOST": "127.0.0.1",
    "MEDIA_PORT": "50062",
    "CATALOG_HOST": "127.0.0.1",
    "CATALOG_PORT": "50061",
    # The published extension's origin; set it to your extension's id.
    "EXTENSION_ORIGIN": "chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    # The identity provider whose user tokens the gateway accepts (the development one by default).
    "AUTH_ISSUER": "recorder-dev",
    "AUTH_AUDIENCE": "recorder",
    "AUTH_JWKS_FILE": "./data/auth/users.jwks.json",
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
        lines += ["        - endpoint:", "            address:",
                  f'              socket_address: {{ address: "{host.strip("[]")}", port_value: {int(port)} }}']
    if not lines:
        raise ValueError("no upstream address")
    return "\n".join(lines)


def render(env: Mapping[str, str]) -> str:
    values = {name: env.get(name, default) for name, default in DEFAULTS.items()}
    for service in ("INGEST", "MEDIA", "CATALOG"):
        # <SERVICE>_ADDRESSES lists replicas; else the one <SERVICE>_HOST:<SERVICE>_PORT.
        values[f"{service}_ENDPOINTS"] = endpoints(
            env.get(f"{service}_ADDRESSES") or f"{values[service + '_HOST']}:{values[service + '_PORT']}")
    return string.Template(TEMPLATE.read_text()).substitute(values)


def main() -> None:
    import os

    out = pathlib.Path(sys.argv[1])
    out.write_text(render(os.environ))


if __name__ == "__main__":
    main()
