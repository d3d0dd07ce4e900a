"""The cost of metrics and traces on the ingest stream path: the same upload to two stacks, side by side.

    .venv/bin/python bench/observability_overhead.py [--mib 128] [--repeat 5]

"on": METRICS_PORT set (the RPC interceptor and every counter) and the OpenTelemetry SDK making a
span per RPC on every service, propagated between them (no collector: spans are made, then
dropped, as with an exporter whose batches go out of band). "off": no METRICS_PORT and
OTEL_SDK_DISABLED=true (the counters in the engine still count; nothing else runs). Each round
times both, in alternating order, each on a settled machine (the previous upload READY, dirty pages
written out). Printed: MiB/s medians, the spread, and on/off as a ratio of throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402

from bench._stack import MODULES, ROOT, BenchStack, free_port, wait_healthy  # noqa: E402
from bench.ingest_throughput import client_stream, settle  # noqa: E402
from recorder.v1 import catalog_pb2_grpc, ingest_pb2_grpc  # noqa: E402
from recorder_common.serving import message_options  # noqa: E402

MiB = 1024 * 1024


class MeteredStack(BenchStack):
    """A BenchStack whose services each serve /metrics on a port of their own (when metered)."""

    def __init__(self, folder: pathlib.Path, env: dict[str, str], metered: bool) -> None:
        super().__init__(folder, env=env)
        self.metrics_ports = {name: free_port() for name in MODULES} if metered else {}

    def start(self) -> "MeteredStack":
        for name, module in MODULES.items():
            env = {**self.env, **({"METRICS_PORT": str(self.metrics_ports[name])} if self.metrics_ports else {})}
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", module],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(self.folder / f"{name}.log", "wb"),
            )
            wait_healthy(self.ports[name])
        return self


async def main_async(args) -> None:
    chunks = [os.urandom(MiB) for _ in range(args.mib)]
    configs = {"on": ({}, True), "off": ({"OTEL_SDK_DISABLED": "true"}, False)}
    with tempfile.TemporaryDirectory(prefix="bench-observability-") as tmp:
        stacks = {}
        for name, (env, metered) in configs.items():
            (pathlib.Path(tmp) / name).mkdir()
            stacks[name] = MeteredStack(pathlib.Path(tmp) / name, {"MEDIA_MAX_LIVE_SESSIONS": "0", **env}, metered)
            stacks[name].start()
        try:
            channels = {
                name: grpc.aio.insecure_channel(s.target("ingest"), options=message_options(MiB))
                for name, s in stacks.items()
            }
            catalogs = {name: grpc.aio.insecure_channel(s.target("catalog")) for name, s in stacks.items()}
            seconds: dict[str, list[float]] = {name: [] for name in stacks}
            last: dict[str, str | None] = {name: None for name in stacks}
            for round_ in range(args.repeat + 1):  # round 0 warms both up and is not counted
                order = list(stacks) if round_ % 2 == 0 else list(reversed(stacks))
                for name in order:
                    md = stacks[name].metadata()
                    for other in stacks:
                        await settle(
                            catalog_pb2_grpc.CatalogServiceStub(catalogs[other]), stacks[other].metadata(), last[other]
                        )
                        last[other] = None
                    elapsed, last[name] = await client_stream(
                        ingest_pb2_grpc.IngestServiceStub(channels[name]), md, chunks
                    )
                    if round_:
                        seconds[name].append(elapsed)
            for name in stacks:
                await settle(catalog_pb2_grpc.CatalogServiceStub(catalogs[name]), stacks[name].metadata(), last[name])
        finally:
            for stack in stacks.values():
                stack.stop()
    rates = {name: [args.mib / s for s in runs] for name, runs in seconds.items()}
    for name, runs in rates.items():
        print(f"{name:>4}: {statistics.median(runs):7.1f} MiB/s  (runs {min(runs):.1f} .. {max(runs):.1f})")
    ratio = statistics.median(rates["on"]) / statistics.median(rates["off"])
    print(
        f"on/off throughput: {ratio:.3f}  (overhead {100 * (1 - ratio):+.1f} %), "
        f"{args.mib} x 1 MiB chunks, client-streaming Upload, {args.repeat} rounds"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
