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


def render(env: Mapping[str, str]) -> str:
    values = {name: env.get(name, default) for name, default in DEFAULTS.items()}
    return string.Template(TEMPLATE.read_text()).substitute(values)


def main() -> None:
    import os

    out = pathlib.Path(sys.argv[1])
    out.write_text(render(os.environ))


if __name__ == "__main__":
    main()
