"""Where things listen and the limits shared by several rooms, stated once: the settings, devstack,
the gateway's template values, the CLI, bench/ and the tests all read them from here."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any

MiB = 1024 * 1024

HOST = "127.0.0.1"
CATALOG_PORT = 50061
MEDIA_PORT = 50062
INGEST_PORT = 50063
# The media service's HTTP playback server (signed /play/ URLs and /s/ share pages).
PLAYBACK_PORT = 50064
# Envoy's gRPC-Web gateway, and the development authorization endpoint the extension signs in at.
GATEWAY_PORT = 8080
DEVAUTH_PORT = 8090

# Where the services' /metrics are served in the local stack: 9061 for 50061 and so on.
METRICS_PORT_OFFSET = -41000
# Replica k of a service in the local stack listens this many ports above replica k-1.
REPLICA_PORT_STEP = 10
# A media service's playback port in the local stack, above its gRPC port (50064 for 50062).
PLAYBACK_PORT_OFFSET = PLAYBACK_PORT - MEDIA_PORT

# Largest payload of a call that carries no chunk (the message limit of the catalog and media
# services, and of the channels to them); ingest's follows MAX_CHUNK_BYTES instead.
MESSAGE_BYTES = 4 * MiB


def address(port: int, host: str = HOST) -> str:
    return f"{host}:{port}"


CATALOG_TARGET = address(CATALOG_PORT)
MEDIA_TARGET = address(MEDIA_PORT)
INGEST_TARGET = address(INGEST_PORT)
GATEWAY_URL = f"http://{HOST}:{GATEWAY_PORT}"

DATA_DIR = "./data"
AUTH_DIR = f"{DATA_DIR}/auth"


# What service_fields reads (<PREFIX>_HOST, <PREFIX>_PORT, LOG_LEVEL): never a variable of its own.
SERVICE_FIELDS = frozenset({"host", "port", "log_level"})


def service_fields(env: Mapping[str, str], prefix: str, defaults: Any) -> dict[str, Any]:
    """The fields every service's settings read the same way: <PREFIX>_HOST, <PREFIX>_PORT and
    LOG_LEVEL, over the defaults of the settings class `defaults`."""
    return {
        "host": env.get(f"{prefix}_HOST", defaults.host),
        "port": int(env.get(f"{prefix}_PORT", defaults.port)),
        "log_level": env.get("LOG_LEVEL", defaults.log_level),
    }


_PARSERS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}


def _type_name(declared: Any) -> str:
    # A string under `from __future__ import annotations`, else the type itself.
    return declared if isinstance(declared, str) else getattr(declared, "__name__", "")


def variables_by_name(
    settings: Any, renamed: Mapping[str, str] | None = None, skip: Collection[str] = ()
) -> dict[str, str]:
    """{field: variable} for env_fields: every int, float or str field of the settings dataclass
    `settings` but service_fields' and `skip`, read from the variable named as the field in
    capitals, or renamed[field]."""
    renamed = renamed or {}
    names = {
        field.name: renamed.get(field.name, field.name.upper())
        for field in dataclasses.fields(settings)
        if _type_name(field.type) in _PARSERS and field.name not in SERVICE_FIELDS and field.name not in skip
    }
    unknown = set(renamed) - set(names)
    if unknown:
        raise ValueError(f"{settings.__name__} has no field read from the environment named {sorted(unknown)}")
    return names


def env_fields(env: Mapping[str, str], settings: Any, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Fields of the settings dataclass `settings` from environment variables ({field: variable};
    by default variables_by_name's): each is parsed as its field's declared type (int, float or
    str), the class's default when unset."""
    types = {field.name: field.type for field in dataclasses.fields(settings)}
    values: dict[str, Any] = {}
    for name, variable in (variables_by_name(settings) if names is None else names).items():
        parse = _PARSERS[_type_name(types[name])]
        values[name] = parse(env.get(variable, getattr(settings, name)))
    return values
