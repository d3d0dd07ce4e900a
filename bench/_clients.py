"""gRPC stubs for the bench scripts that talk to a BenchStack's ingest and catalog services."""

from __future__ import annotations

import contextlib
import pathlib
import sys
from collections.abc import AsyncIterator
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import grpc  # noqa: E402

from recorder.v1 import catalog_pb2_grpc, ingest_pb2_grpc  # noqa: E402
from recorder_common.serving import message_options  # noqa: E402

MiB = 1024 * 1024


@contextlib.asynccontextmanager
async def ingest_and_catalog(stack: Any) -> AsyncIterator[tuple[Any, Any]]:
    """(ingest stub, catalog stub) of the stack, on channels that take 8 MiB messages (1 MiB chunks
    with room to spare), closed on exit."""
    options = message_options(8 * MiB)
    async with (
        grpc.aio.insecure_channel(stack.target("ingest"), options=options) as ingest_channel,
        grpc.aio.insecure_channel(stack.target("catalog"), options=options) as catalog_channel,
    ):
        yield ingest_pb2_grpc.IngestServiceStub(ingest_channel), catalog_pb2_grpc.CatalogServiceStub(catalog_channel)
