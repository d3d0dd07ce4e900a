"""Fuzzing the public API with hypothesis: any request a client can build gets a precise status
(never UNKNOWN or INTERNAL), and the services keep serving."""

from __future__ import annotations

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, event, given, settings, strategies as st

from recorder.v1 import catalog_pb2, ingest_pb2
from tests.helpers import user

ALICE = user("alice")
BROKEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.DATA_LOSS}
# Values worth trying more often than chance would: real-looking ids, path tricks, limits.
MINE = "<an upload of alice's>"  # replaced by a real id at call time
SPECIAL_TEXT = [
    "",
    "0" * 32,
    "f" * 32,
    "../" * 5,
    "/etc/passwd",
    "a\x00b",
    "\u202e",
    "x" * 600,
    "A" * 32,
    "0" * 31 + "g",
    "video/webm",
    "video/mp4",
]
SPECIAL_INT = [0, 1, -1, 2**31 - 1, 2**31, 2**63 - 1, -(2**63), 99_999, 100_000, 10**10]


def field_values(field: FieldDescriptor) -> st.SearchStrategy:
    t = field.type
    if t == FieldDescriptor.TYPE_STRING and field.name.endswith("video_id"):
        return st.one_of(st.just(MINE), st.just(MINE), st.sampled_from(SPECIAL_TEXT), st.text(max_size=40))
    if t == FieldDescriptor.TYPE_STRING:
        return st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(max_size=80))
    if t == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=4096)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), st.integers(-5, 50))
    if t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return st.one_of(st.sampled_from(SPECIAL_INT), st.integers(-(2**63), 2**63 - 1))
    if t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32):
        return st.one_of(st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1))
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, width=32 if t == FieldDescriptor.TYPE_FLOAT else 64)
    if t == FieldDescriptor.TYPE_MESSAGE:
        return messages(message_factory.GetMessageClass(field.message_type))
    raise AssertionError(f"no strategy for field type {t}")


@st.composite
def messages(draw, cls):
    """Any message of this type: each field set or not, one member of each oneof at most."""
    message = cls()
    descriptor = cls.DESCRIPTOR
    chosen_oneof = {
        o.name: draw(st.sampled_from([None, *[f.name for f in o.fields]]))
        for o in descriptor.oneofs
        if not o.name.startswith("_")
    }
    for field in descriptor.fields:
        oneof = field.containing_oneof
        if oneof is not None and not oneof.name.startswith("_") and chosen_oneof[oneof.name] != field.name:
            continue
        if not (field.name.endswith("video_id") or draw(st.booleans())):
            continue
        if field.is_repeated:
            getattr(message, field.name).extend(draw(st.lists(field_values(field), max_size=3)))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            getattr(message, field.name).CopyFrom(draw(field_values(field)))
        else:
            setattr(message, field.name, draw(field_values(field)))
    return message


UNARY = {
    ("ingest", "CreateUpload"): ingest_pb2.CreateUploadRequest,
    ("ingest", "PutChunk"): ingest_pb2.PutChunkRequest,
    ("ingest", "GetUploadState"): ingest_pb2.GetIngestUploadStateRequest,
    ("ingest", "AbortUpload"): ingest_pb2.AbortUploadRequest,
    ("ingest", "DeleteVideo"): ingest_pb2.DeleteVideoRequest,
    ("ingest", "RetryProcessing"): ingest_pb2.RetryVideoProcessingRequest,
    ("catalog", "GetVideo"): catalog_pb2.GetVideoRequest,
    ("catalog", "ListVideos"): catalog_pb2.ListVideosRequest,
}

calls = st.one_of(
    *[st.tuples(st.just(("unary", service, method)), messages(cls)) for (service, method), cls in UNARY.items()],
    st.tuples(st.just(("stream", "ingest", "Upload")), st.lists(messages(ingest_pb2.UploadRequest), max_size=4)),
    st.tuples(st.just(("watch", "catalog", "WatchVideo")), messages(catalog_pb2.WatchVideoRequest)),
)


def mine_fields(message):
    """(message, field name) of every string field that holds the MINE placeholder."""
    for field, value in message.ListFields():
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            for inner in value if field.is_repeated else [value]:
                yield from mine_fields(inner)
        elif value == MINE:
            yield message, field.name


async def perform(stack, call) -> grpc.StatusCode:
    (kind, service, method), payload = call
    targets = [t for m in (payload if isinstance(payload, list) else [payload]) for t in mine_fields(m)]
    if targets:  # a fresh upload of alice's, so that earlier examples' aborts and deletes do not matter
        video_id = (
            await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title="fuzz"), metadata=ALICE, timeout=30)
        ).video_id
        for message, name in targets:
            setattr(message, name, video_id)
    stub = stack.ingest if service == "ingest" else stack.catalog
    try:
        if kind == "unary":
            await getattr(stub, method)(payload, metadata=ALICE, timeout=30)
        elif kind == "stream":

            async def requests():
                for message in payload:
                    yield message

            await stub.Upload(requests(), metadata=ALICE, timeout=30)
        else:
            async for _ in stub.WatchVideo(payload, metadata=ALICE, timeout=1):
                pass
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details()
    return grpc.StatusCode.OK, ""


async def still_serving(stack) -> None:
    """Every service answers its health check, and a real request still works."""
    for port in (stack.ingest_port, stack.catalog_port, stack.media_port):
        health = health_pb2_grpc.HealthStub(stack.channel(port))
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, port
    created = await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title="after"), metadata=ALICE, timeout=10)
    assert len(created.video_id) == 32
    got = await stack.catalog.GetVideo(
        catalog_pb2.GetVideoRequest(video_id=created.video_id), metadata=ALICE, timeout=10
    )
    assert got.video.title == "after"


def test_any_public_request_gets_a_precise_status_and_the_services_keep_serving(threaded_stack):
    # One stack for the whole run: the examples are fuzzed against it, and then it (not a fresh
    # one) must still serve.
    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(call=calls)
    def any_request(call):
        code, details = threaded_stack.run(perform(threaded_stack, call), timeout=60)
        event(f"{call[0][2]} -> {code.name}")
        assert code not in BROKEN, f"{call[0]} -> {code.name}: {details}"

    any_request()
    threaded_stack.run(still_serving(threaded_stack), timeout=60)
