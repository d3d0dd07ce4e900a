"""Property-based: whatever order, duplicates, drops and resends the chunks come in, on either
path, the assembled source equals the sent bytes, or the upload says exactly which are missing."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from recorder.v1 import common_pb2, ingest_pb2
from tests.helpers import asset, chunk, user, wait_final

ALICE = user("alice")
pytestmark = pytest.mark.both_backends

deliveries = st.integers(min_value=1, max_value=9).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.binary(min_size=n, max_size=n * 700),
        # The sequence of chunk indices the client sends: any order, repeats allowed, some never sent.
        st.lists(st.integers(0, n - 1), min_size=0, max_size=3 * n),
        st.booleans(),  # whether the client finally resends everything it is told is missing
        st.sampled_from(["unary", "stream"]),
    )
)


def slices(data: bytes, n: int) -> list[bytes]:
    size = -(-len(data) // n)
    parts = [data[i * size : (i + 1) * size] for i in range(n)]
    return [p for p in parts if p]  # no empty chunks: only the last may be, and it is not needed


async def send(stack, video_id: str, parts: list[bytes], order: list[int], path: str) -> None:
    n = len(parts)
    if path == "unary":
        for i in order:
            await stack.ingest.PutChunk(
                ingest_pb2.PutChunkRequest(video_id=video_id, chunk=chunk(i, parts[i], i == n - 1)),
                metadata=ALICE,
                timeout=30,
            )
        return

    async def messages():
        yield ingest_pb2.UploadRequest(header=ingest_pb2.UploadHeader(resume_video_id=video_id))
        for i in order:
            yield ingest_pb2.UploadRequest(chunk=chunk(i, parts[i], i == n - 1))

    await stack.ingest.Upload(messages(), metadata=ALICE, timeout=60)


@settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delivery=deliveries)
def test_any_delivery_assembles_exactly_or_reports_the_gaps(threaded_stack, delivery):
    threaded_stack.run(check_delivery(threaded_stack, delivery), timeout=60)


async def check_delivery(stack, delivery):
    n, data, order, fill_gaps, path = delivery
    parts = slices(data, n)
    n = len(parts)
    order = [i for i in order if i < n]
    video_id = (await stack.ingest.CreateUpload(ingest_pb2.CreateUploadRequest(title="p"), metadata=ALICE)).video_id
    await send(stack, video_id, parts, order, path)
    state = (
        await stack.ingest.GetUploadState(ingest_pb2.GetIngestUploadStateRequest(video_id=video_id), metadata=ALICE)
    ).state
    sent = set(order)
    assert list(state.stored_indices) == sorted(sent)
    if sent == set(range(n)):
        assert state.complete
    else:
        assert not state.complete
        upper = n - 1 if n - 1 in sent else max(sent, default=-1)
        assert list(state.missing_indices) == [i for i in range(upper + 1) if i not in sent]
        if not fill_gaps:
            return
        # Resume as a client does: send what the server says is missing (plus the last chunk if it
        # never came, since the server cannot know the length before), ask again, until complete.
        extra = [] if n - 1 in sent else [n - 1]
        for _ in range(3):
            missing = list(state.missing_indices) + extra
            await send(stack, video_id, parts, missing + missing[:1], path)  # and one resend
            state = (
                await stack.ingest.GetUploadState(
                    ingest_pb2.GetIngestUploadStateRequest(video_id=video_id), metadata=ALICE
                )
            ).state
            extra = []
            if state.complete:
                break
        assert state.complete and list(state.stored_indices) == list(range(n))
    video = await wait_final(stack, video_id, ALICE, timeout=20)
    # Random bytes are not a video: processing fails at PROBE, after assembling the source.
    assert video.status == common_pb2.VIDEO_STATUS_FAILED
    assert video.error_step == common_pb2.PROCESSING_STEP_PROBE
    source = asset(stack, video, common_pb2.ASSET_KIND_SOURCE)
    assert hashlib.sha256(source.read_bytes()).digest() == hashlib.sha256(b"".join(parts)).digest()
    assert sum(e.message.startswith("attempt") for e in video.history) == 1
