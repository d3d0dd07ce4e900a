"""python -m devstack: run the whole stack on embedded defaults (SQLite, local storage).

Starts catalog, media and ingest as child processes, waits until each answers its health check,
prints where they listen, and stops them all on Ctrl-C or SIGTERM. --s3 keeps chunks and media in
a local SeaweedFS over S3 instead; --replicas N runs N ingest and N media services.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import sys
import threading

from devauth.authorize import AuthorizationServer
from devauth.keys import ensure_keys
from devstack.harness import Processes, replica_names, service_of, wiring_env
from devstack.seaweed import SeaweedS3
from devstack.share_player import ensure_share_player
from recorder_common import defaults

DEFAULT_PORTS = {"catalog": defaults.CATALOG_PORT, "media": defaults.MEDIA_PORT, "ingest": defaults.INGEST_PORT}


def plan_ports(env: dict[str, str], replicas: int) -> dict[str, int]:
    """Each service on <SERVICE>_PORT (else its default), replica k 10 ports above replica k-1."""
    ports = {}
    for name in replica_names({"media": replicas, "ingest": replicas}):
        service = service_of(name)
        k = int(name.rsplit("-", 1)[1]) - 1 if "-" in name else 0
        ports[name] = int(env.get(f"{service.upper()}_PORT", DEFAULT_PORTS[service])) + defaults.REPLICA_PORT_STEP * k
    return ports


def run(data_dir: pathlib.Path, base_env: dict[str, str], s3: bool = False, replicas: int = 1) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(base_env)
    env.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    env.setdefault("STORAGE_ROOT", str(data_dir / "storage"))
    env.setdefault("SCRATCH_ROOT", str(data_dir / "scratch"))
    # A local identity provider: keys made once in data/auth; user tokens from `./dev token USER`.
    keys = ensure_keys(data_dir / "auth")
    for name, value in keys.env().items():
        env.setdefault(name, value)
    stop, signalled, started = threading.Event(), threading.Event(), threading.Event()

    def on_signal(*_: object) -> None:
        signalled.set()
        stop.set()
        if not started.is_set():
            raise KeyboardInterrupt  # abandon the start-up; the finally below stops what started

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    # The development authorization endpoint the extension signs in through (code + PKCE).
    authorization = AuthorizationServer(
        keys, user=env.get("DEVAUTH_USER", "dev-user"), port=int(env.get("DEVAUTH_PORT", defaults.DEVAUTH_PORT))
    ).start()
    print(
        f"devstack: sign-in  ready on {authorization.url} (development authorization endpoint, "
        f"user {authorization.codes.user})",
        flush=True,
    )
    ensure_share_player()  # the share page's HLS player (web/dist)
    seaweed = None
    stack = None
    try:
        if s3:
            seaweed = SeaweedS3(data_dir / "seaweed").start()
            env.update(seaweed.env())
            print(f"devstack: S3       ready on {seaweed.endpoint} (SeaweedFS, bucket {seaweed.bucket})", flush=True)
        ports = plan_ports(env, replicas)
        # Each media replica serves HTTP playback 2 ports above its gRPC port (50064, 50074, ...).
        playback = {name: port + defaults.PLAYBACK_PORT_OFFSET for name, port in ports.items() if "media" in name}
        for name, value in wiring_env(ports, playback).items():
            if not name.endswith("_PORT"):  # each instance is given its own port below
                env.setdefault(name, value)
        env.setdefault("PLAYBACK_KEY_FILE", str(data_dir / "auth" / "playback.key"))
        instance_env = {
            name: {
                "METRICS_PORT": str(port + defaults.METRICS_PORT_OFFSET),
                **({"PLAYBACK_PORT": str(playback[name])} if name in playback else {}),
            }
            for name, port in ports.items()
        }
        stack = Processes(env, ports, data_dir, instance_env, logs=False)

        def ready(name: str) -> None:
            print(
                f"devstack: {name:<8} ready on {stack.target(name)} "
                f"(metrics on :{instance_env[name]['METRICS_PORT']}/metrics)",
                flush=True,
            )

        stack.start_all(on_ready=ready)
        gateway_port = stack.start_gateway(int(env.get("GATEWAY_PORT", defaults.GATEWAY_PORT)), log_level="warn")
        print(
            f"devstack: gateway  ready on {defaults.address(gateway_port)} (gRPC-Web, Envoy; playback under "
            "/play/ and share pages under /s/)",
            flush=True,
        )
        print(f"devstack: data in {data_dir}; upload with:  .venv/bin/recorder upload FILE.webm", flush=True)
        print("devstack: a bearer token for user alice:  ./dev token alice", flush=True)
        exited: list[str] = []

        def watch(name: str, process) -> None:
            process.wait()
            exited.append(name)
            stop.set()

        for name, process in stack.processes.items():
            threading.Thread(target=watch, args=(name, process), daemon=True).start()
        started.set()
        stop.wait()
        if exited and not signalled.is_set():  # Ctrl-C reaches the services too, and they exit
            print(f"devstack: {exited[0]} exited; stopping the others", file=sys.stderr, flush=True)
            return 1
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if stack is not None:
            stack.stop_all()
        authorization.stop()
        if seaweed is not None:
            seaweed.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("DEVSTACK_DATA_DIR", "./data"))
    parser.add_argument("--s3", action="store_true", help="store chunks and media in a local SeaweedFS over S3")
    parser.add_argument("--replicas", type=int, default=1, help="ingest and media services of each (default 1)")
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be 1 or more")
    sys.exit(run(pathlib.Path(args.data_dir).resolve(), dict(os.environ), args.s3, args.replicas))


if __name__ == "__main__":
    main()
