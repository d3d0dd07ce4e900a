"""One error mapping for every handler shape (recorder_common/identity.py): a DomainError becomes
its status, anything else INTERNAL with no exception text and a logged traceback; request bytes
that do not parse (a text field that is not UTF-8) are INVALID_ARGUMENT. Real gRPC servers."""

from __future__ import annotations

import asyncio
import logging
import socket

import grpc
import pytest

from catalog_service import db
from catalog_service.catalog import Catalog
from catalog_service.server import CatalogDeps, create_server as create_catalog_server
from catalog_service.settings import CatalogSettings
from catalog_service.watch_hub import WatchHub
from recorder.v1 import catalog_pb2, catalog_pb2_grpc, ingest_pb2
from recorder_common.auth import Authenticator
from recorder_common.errors import NotFound, from_rpc_error, undecodable_reason
from recorder_common.identity import IdentityInterceptor
from recorder_common.policy import PUBLIC
from tests.conftest import AUTH
from tests.helpers import user

ALICE = user("alice")
SECRET = "disk /var/lib/recorder/secret failed for <Session object at 0x7f3a2b1c0d90>"
# GetVideoRequest{video_id: b"\xff\xfe"}: field 1, length-delimited, 2 bytes that are not UTF-8.
BAD_UTF8_GET_VIDEO = b"\x0a\x02\xff\xfe"
REQUEST, RESPONSE = catalog_pb2.GetVideoRequest, catalog_pb2.GetVideoResponse
SHAPES = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


def leaks(details: str) -> bool:
    return any(s in details for s in ("0x", "/var/", "Traceback", "RuntimeError", "class", "Session"))


# ---- a service with one method of each shape -------------------------------------------------


def shaped_handlers(failure: BaseException, seen: list) -> dict:
    """Methods "<shape>" of test.Shapes, each failing with `failure` after reading its request(s)
    and (for streamed responses) sending one response first."""

    async def unary_unary(request, context):
        seen.append(request.video_id)
        raise failure

    async def unary_stream(request, context):
        seen.append(request.video_id)
        yield RESPONSE()
        raise failure

    async def stream_unary(requests, context):
        async for request in requests:
            seen.append(request.video_id)
        raise failure

    async def stream_stream(requests, context):
        async for request in requests:
            seen.append(request.video_id)
            yield RESPONSE()
        raise failure

    make = {
        "unary_unary": grpc.unary_unary_rpc_method_handler,
        "unary_stream": grpc.unary_stream_rpc_method_handler,
        "stream_unary": grpc.stream_unary_rpc_method_handler,
        "stream_stream": grpc.stream_stream_rpc_method_handler,
    }
    handlers = {
        "unary_unary": unary_unary,
        "unary_stream": unary_stream,
        "stream_unary": stream_unary,
        "stream_stream": stream_stream,
    }
    return {
        shape: make[shape](
            handlers[shape], request_deserializer=REQUEST.FromString, response_serializer=RESPONSE.SerializeToString
        )
        for shape in SHAPES
    }


@pytest.fixture
async def shapes():
    """start(failure) -> (port, seen): a real server with the identity interceptor in front."""
    servers = []

    async def start(failure: BaseException):
        seen: list = []
        server = grpc.aio.server(
            interceptors=[
                IdentityInterceptor(Authenticator(AUTH), policy={f"/test.Shapes/{shape}": PUBLIC for shape in SHAPES})
            ]
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("test.Shapes", shaped_handlers(failure, seen)),)
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        return port, seen

    yield start
    for server in servers:
        await server.stop(None)


async def call_shape(port: int, shape: str, payloads: list[bytes], metadata) -> tuple[grpc.StatusCode, str]:
    """Send raw request bytes to test.Shapes/<shape>; the final status and its details."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        multicallable = getattr(channel, shape)(
            f"/test.Shapes/{shape}", request_serializer=lambda b: b, response_deserializer=RESPONSE.FromString
        )

        async def stream():
            for payload in payloads:
                yield payload

        rpc = multicallable(stream() if shape.startswith("stream_") else payloads[0], metadata=metadata, timeout=10)
        try:
            if shape.endswith("_stream"):
                async for _ in rpc:
                    pass
            else:
                await rpc
        except grpc.aio.AioRpcError as exc:
            return exc.code(), exc.details()
        return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("shape", SHAPES)
async def test_an_unexpected_exception_is_internal_and_logged_in_every_shape(shapes, shape, caplog):
    port, seen = await shapes(RuntimeError(SECRET))
    rid = f"req-{shape}"
    with caplog.at_level(logging.INFO, logger="recorder.rpc"):
        code, details = await call_shape(
            port, shape, [REQUEST(video_id="v").SerializeToString()], ALICE + (("x-request-id", rid),)
        )
    assert seen == ["v"]
    assert code == grpc.StatusCode.INTERNAL, details
    assert rid in details and not leaks(details), details
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "recorder.rpc"]
    assert len(failures) == 1
    assert rid in failures[0].getMessage() and shape in failures[0].getMessage()
    assert isinstance(failures[0].exc_info[1], RuntimeError)  # the traceback is in the log


@pytest.mark.parametrize("shape", SHAPES)
async def test_a_domain_error_is_its_status_in_every_shape(shapes, shape, caplog):
    port, _ = await shapes(NotFound("video v not found"))
    with caplog.at_level(logging.INFO, logger="recorder.rpc"):
        code, details = await call_shape(port, shape, [REQUEST(video_id="v").SerializeToString()], ALICE)
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "video v not found")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("shape", SHAPES)
async def test_invalid_utf8_is_invalid_argument_in_every_shape(shapes, shape):
    port, seen = await shapes(RuntimeError("the handler must not get this far"))
    good = REQUEST(video_id="fine").SerializeToString()
    # A streamed request goes bad in its second message; a unary one at once.
    payloads = [good, BAD_UTF8_GET_VIDEO] if shape.startswith("stream_") else [BAD_UTF8_GET_VIDEO]
    code, details = await call_shape(port, shape, payloads, ALICE)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert details == "field 'video_id' of recorder.v1.GetVideoRequest is not valid UTF-8; text fields must be UTF-8"
    assert seen == (["fine"] if shape.startswith("stream_") else [])


async def test_bad_bytes_from_a_caller_without_a_token_are_still_unauthenticated(shapes):
    port, seen = await shapes(RuntimeError("unreachable"))
    code, _ = await call_shape(port, "unary_unary", [BAD_UTF8_GET_VIDEO], ())
    assert code == grpc.StatusCode.UNAUTHENTICATED and seen == []


# ---- the real catalog server ---------------------------------------------------------------------


@pytest.fixture
async def catalog_port(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    await asyncio.to_thread(db.migrate, url)
    engine = db.create_engine(url)
    server, port = await create_catalog_server(
        CatalogSettings(database_url=url, port=0, auth=AUTH), CatalogDeps(Catalog(db.session_factory(engine)))
    )
    await server.start()
    yield port
    await server.stop(None)
    await engine.dispose()


async def raw_call(port: int, method: str, payload: bytes, streaming_response: bool) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        make = channel.unary_stream if streaming_response else channel.unary_unary
        rpc = make(method, request_serializer=lambda b: b, response_deserializer=lambda b: b)(
            payload, metadata=ALICE, timeout=10
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            if streaming_response:
                async for _ in rpc:
                    pass
            else:
                await rpc
        return caught.value


async def test_invalid_utf8_reaches_the_catalog_as_invalid_argument(catalog_port):
    for method, streaming in (
        ("/recorder.v1.CatalogService/GetVideo", False),
        ("/recorder.v1.CatalogService/WatchVideo", True),
    ):
        error = await raw_call(catalog_port, method, BAD_UTF8_GET_VIDEO, streaming)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, error.details())
        assert "'video_id'" in error.details() and "UTF-8" in error.details()
        assert "<class" not in error.details() and "DecodeError" not in error.details()


async def test_a_failing_watch_stream_is_internal_and_logged(catalog_port, monkeypatch, caplog):
    async def broken_watch(self, *args, **kwargs):
        raise RuntimeError(SECRET)
        yield  # an async generator, like the real one

    monkeypatch.setattr(WatchHub, "watch", broken_watch)
    stub = catalog_pb2_grpc.CatalogServiceStub(grpc.aio.insecure_channel(f"127.0.0.1:{catalog_port}"))
    with caplog.at_level(logging.INFO, logger="recorder.rpc"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in stub.WatchVideo(
                catalog_pb2.WatchVideoRequest(video_id="0" * 32),
                metadata=ALICE + (("x-request-id", "watch-1"),),
                timeout=10,
            ):
                pass
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "watch-1" in caught.value.details() and not leaks(caught.value.details())
    logged = [r for r in caplog.records if r.levelno == logging.ERROR and "WatchVideo" in r.getMessage()]
    assert len(logged) == 1 and "watch-1" in logged[0].getMessage()
    assert isinstance(logged[0].exc_info[1], RuntimeError)


# ---- pure parts --------------------------------------------------------------------------------


def test_the_reason_names_the_nested_field():
    good = ingest_pb2.UploadRequest(
        header=ingest_pb2.UploadHeader(create=ingest_pb2.CreateUploadRequest(title="ok", filename="PLACEHOLDER"))
    ).SerializeToString()
    bad = good.replace(b"PLACEHOLDER", b"\xc3\x28\xa0\xa1\x80\xed\xa0\x80zzz")  # same length, not UTF-8
    assert len(bad) == len(good)
    with pytest.raises(Exception):
        ingest_pb2.UploadRequest.FromString(bad)
    assert undecodable_reason(ingest_pb2.UploadRequest, bad) == (
        "field 'header.create.filename' of recorder.v1.UploadRequest is not valid UTF-8; text fields must be UTF-8"
    )


def test_malformed_bytes_get_a_plain_reason():
    for junk in (b"\x0a\x10short", b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"\x0b"):
        assert (
            undecodable_reason(REQUEST, junk)
            == "the request is not a valid recorder.v1.GetVideoRequest message (malformed protobuf bytes)"
        )
    assert undecodable_reason(None, b"x") == "the request is not a valid message (malformed protobuf bytes)"


async def test_a_dependency_that_is_down_does_not_leak_its_address():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog_pb2_grpc.CatalogServiceStub(channel).GetVideo(REQUEST(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    error = from_rpc_error(caught.value, "catalog")
    assert error.code == grpc.StatusCode.UNAVAILABLE
    assert error.message == "catalog is unavailable; try again shortly"
