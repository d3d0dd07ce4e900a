"""The access policy (recorder_common/policy.py): it names every RPC we serve, real servers enforce
it before any handler runs, and the Envoy gateway routes exactly its PUBLIC RPCs."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re

import grpc
import pytest
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

import recorder.v1
from gateway.render import render
from recorder.v1 import catalog_pb2, ingest_pb2
from recorder_common.auth import Authenticator, ServiceTokenSigner
from recorder_common.identity import IdentityInterceptor
from recorder_common.policy import INTERNAL, OPEN, POLICY, PUBLIC, Access, methods_with
from tests.conftest import AUTH, start_stack
from tests.helpers import TEST_KEYS, user

ALICE = user("alice")


def served_methods() -> dict[str, object]:
    """Full method name -> method descriptor, for every service in gen/recorder/v1 plus health and
    reflection (what every one of our servers registers)."""
    modules = [
        importlib.import_module(f"recorder.v1.{info.name}")
        for info in pkgutil.iter_modules(recorder.v1.__path__)
        if info.name.endswith("_pb2")
    ]
    methods = {}
    for module in [*modules, health_pb2, reflection_pb2]:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                methods[f"/{service.full_name}/{method.name}"] = method
    return methods


METHODS = served_methods()


def test_every_rpc_has_one_policy_entry_and_every_entry_names_an_rpc():
    assert len(METHODS) > 30  # the walk found the services
    missing = sorted(set(METHODS) - set(POLICY))
    unknown = sorted(set(POLICY) - set(METHODS))
    assert not missing, f"RPCs with no access policy (they are refused): {missing}"
    assert not unknown, f"policy entries that name no RPC: {unknown}"
    assert all(isinstance(access, Access) for access in POLICY.values())


def test_only_health_and_reflection_are_open():
    assert {m.split("/")[1] for m in methods_with(OPEN)} == {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


def test_the_catalog_upload_state_is_internal():
    assert POLICY["/recorder.v1.CatalogService/GetUploadState"] is INTERNAL
    assert POLICY["/recorder.v1.IngestService/GetUploadState"] is PUBLIC


def routed_paths(config: str) -> list[str]:
    return re.findall(r'- match: \{ path: "([^"]+)" \}', config)


def test_the_gateway_routes_exactly_the_public_rpcs():
    routed = routed_paths(render({**os.environ, **TEST_KEYS.env()}))
    assert len(routed) == len(set(routed))
    assert set(routed) == set(methods_with(PUBLIC))
    assert not set(routed) & set(methods_with(INTERNAL))
    # Nothing else can route: no prefix or regex matches that would catch an internal RPC. The
    # only prefixes are playback's, and they go to the playback cluster (plain HTTP, no RPCs).
    config = render({**os.environ, **TEST_KEYS.env()})
    route_block = config[config.index("routes:") : config.index("http_filters:")]
    matches = re.findall(r"- match: \{ (\w+): \"([^\"]+)\" \}\n\s+route: \{ cluster: (\w+)", route_block)
    assert len(matches) == route_block.count("- match:")
    assert sorted((kind, value, cluster) for kind, value, cluster in matches if kind != "path") == [
        ("prefix", "/play/", "playback"),
        ("prefix", "/s/", "playback"),
    ]
    playback = {("prefix", "/play/"), ("prefix", "/s/")}
    for kind, value, cluster in matches:
        assert (kind, value) in playback or (kind == "path" and cluster != "playback"), (kind, value, cluster)
    assert "regex:" not in re.sub(r"allow_origin_string_match:(\n\s+- [^\n]+)+", "", route_block)


# ---- through real servers ----------------------------------------------------------------------


@pytest.fixture
async def servers(tmp_path):
    """The three services on SQLite (access control does not depend on the database)."""
    stack, stop = await start_stack(f"sqlite:///{tmp_path / 'catalog.sqlite3'}", tmp_path / "storage")
    yield stack
    await stop()


def port_of(stack, method: str) -> int:
    service = method.split("/")[1]
    return {
        "recorder.v1.IngestService": stack.ingest_port,
        "recorder.v1.CatalogService": stack.catalog_port,
        "recorder.v1.MediaService": stack.media_port,
    }[service]


async def call(stack, method: str, metadata, request=None) -> grpc.StatusCode:
    """Call any RPC by its descriptor with an empty request (or the one given); the status code."""
    descriptor = METHODS[method]
    request_class = message_factory.GetMessageClass(descriptor.input_type)
    response_class = message_factory.GetMessageClass(descriptor.output_type)
    request = request if request is not None else request_class()
    channel = stack.channel(port_of(stack, method))
    kinds = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }
    multicallable = kinds[(descriptor.client_streaming, descriptor.server_streaming)](
        method, request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString
    )

    async def one_request():
        yield request

    try:
        rpc = multicallable(one_request() if descriptor.client_streaming else request, metadata=metadata, timeout=10)
        if descriptor.server_streaming:
            async for _ in rpc:
                pass
        else:
            await rpc
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_every_internal_rpc_refuses_a_user_token(servers):
    internal = methods_with(INTERNAL)
    assert len(internal) >= 18
    codes = {method: await call(servers, method, ALICE) for method in internal}
    wrong = {m: c for m, c in codes.items() if c != grpc.StatusCode.PERMISSION_DENIED}
    assert not wrong, f"internal RPCs that did not refuse alice's user token: {wrong}"


async def test_every_public_rpc_refuses_a_missing_token_and_a_service_token_alone(servers):
    service = (("authorization", f"Bearer {ServiceTokenSigner(AUTH, 'ingest').token()}"),)
    for metadata in ((), service):
        codes = {method: await call(servers, method, metadata) for method in methods_with(PUBLIC)}
        wrong = {m: c for m, c in codes.items() if c != grpc.StatusCode.UNAUTHENTICATED}
        assert not wrong, (
            f"public RPCs that did not refuse {'no token' if not metadata else 'a bare service token'}: {wrong}"
        )


async def test_catalog_get_upload_state_refuses_a_user_token(servers):
    video_id = (
        await servers.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title="mine"), metadata=ALICE, timeout=10)
    ).video_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await servers.catalog.GetUploadState(
            catalog_pb2.GetUploadStateRequest(video_id=video_id), metadata=ALICE, timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "internal RPC" in caught.value.details()
    # The user's way in still works, and ingest still reaches the catalog's with its service token.
    state = await servers.ingest.GetUploadState(
        ingest_pb2.GetIngestUploadStateRequest(video_id=video_id), metadata=ALICE, timeout=10
    )
    assert state.state.received_chunks == 0


async def test_internal_rpcs_answer_our_services(servers):
    service = (("authorization", f"Bearer {ServiceTokenSigner(AUTH, 'media').token()}"),)
    pending = await servers.catalog.ListPendingProcessing(
        catalog_pb2.ListPendingProcessingRequest(limit=5), metadata=service, timeout=10
    )
    assert list(pending.videos) == []


async def test_health_and_reflection_need_no_token(servers):
    from grpc_health.v1 import health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2_grpc

    for port in (servers.ingest_port, servers.catalog_port, servers.media_port):
        channel = servers.channel(port)
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=10)
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        watch.cancel()

        async def ask():
            yield reflection_pb2.ServerReflectionRequest(list_services="")

        replies = [
            r async for r in reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(ask(), timeout=10)
        ]
        assert any(s.name.startswith("recorder.v1.") for s in replies[0].list_services_response.service)


async def test_an_rpc_missing_from_the_policy_is_refused_before_its_handler_runs():
    ran = []

    async def handler(request, context):
        ran.append(request)
        return catalog_pb2.GetVideoResponse()

    server = grpc.aio.server(
        interceptors=[IdentityInterceptor(Authenticator(AUTH), policy={"/test.Shapes/Listed": PUBLIC})]
    )
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "test.Shapes",
                {
                    name: grpc.unary_unary_rpc_method_handler(
                        handler,
                        request_deserializer=catalog_pb2.GetVideoRequest.FromString,
                        response_serializer=catalog_pb2.GetVideoResponse.SerializeToString,
                    )
                    for name in ("Listed", "Unlisted")
                },
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:

            def rpc(name):
                return channel.unary_unary(
                    f"/test.Shapes/{name}",
                    request_serializer=catalog_pb2.GetVideoRequest.SerializeToString,
                    response_deserializer=catalog_pb2.GetVideoResponse.FromString,
                )

            await rpc("Listed")(catalog_pb2.GetVideoRequest(), metadata=ALICE, timeout=10)
            assert len(ran) == 1
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await rpc("Unlisted")(catalog_pb2.GetVideoRequest(), metadata=ALICE, timeout=10)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert "no declared access" in caught.value.details()
            assert len(ran) == 1
    finally:
        await server.stop(None)


async def test_the_gateway_refuses_tokens_that_live_longer_than_the_maximum(tmp_path):
    """Envoy alone (no upstream behind it): a refused token is 401 at the gateway, an accepted one
    goes on to the (absent) catalog and comes back 503."""
    import asyncio
    import time

    from devstack.harness import free_port, gateway
    from tests import forged_tokens, grpc_web

    env = {
        **os.environ,
        **TEST_KEYS.env(),
        "CATALOG_PORT": str(free_port()),
        "AUTH_MAX_TOKEN_LIFETIME_SECONDS": "86400",
    }
    with gateway(env, tmp_path) as port:
        now = int(time.time())
        cases = {
            "12 h": (forged_tokens.claims(exp=now + 12 * 3600), 503),
            "48 h": (forged_tokens.claims(iat=now, exp=now + 48 * 3600), 401),
            "no iat, 1 h left": (forged_tokens.claims(iat=None, exp=now + 3600), 503),
            "no iat, 48 h left": (forged_tokens.claims(iat=None, exp=now + 48 * 3600), 401),
            "year 9999": (forged_tokens.claims(exp=253402300799), 401),
        }
        for name, (token_claims, status) in cases.items():
            reply = await asyncio.to_thread(
                grpc_web.call,
                port,
                "/recorder.v1.CatalogService/ListVideos",
                b"",
                {"authorization": "Bearer " + forged_tokens.signed(token_claims)},
                "http://localhost:5173",
            )
            assert reply.http_status == status, (name, reply.http_status, reply.grpc_message)
