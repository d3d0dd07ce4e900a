"""Signed webhooks on the event feed, against a real local HTTP receiver, through real catalog
servers on SQLite and PostgreSQL (two replicas on one database for the exactly-once claim)."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as dt
import http.server
import json
import pathlib
import threading
import time

import grpc
import pytest
from sqlalchemy import select

from catalog_service import db, events
from catalog_service.catalog import Catalog
from catalog_service.models import FeedEvent, WebhookDelivery
from catalog_service.server import CatalogDeps, create_server
from catalog_service.settings import CatalogSettings
from catalog_service.webhooks import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    Endpoint,
    WebhookDispatcher,
    WebhookSettings,
    parse_endpoints,
    retry_delay,
    signature,
    verify,
)
from recorder.v1 import catalog_pb2, catalog_pb2_grpc
from tests.conftest import AUTH as AUTH_SETTINGS, SteppedClock
from tests.helpers import user
from tests.process_stack import free_port
from tests.videos import OWNER, make_ready, new_video, service

SECRET = "whsec_test_0123456789abcdef"
README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def readme_snippet() -> dict:
    """The Python verification snippet of the README's webhook section, run as written."""
    section = README.read_text().split("**Verifying a delivery**", 1)[1]
    namespace: dict = {}
    exec(section.split("```python\n", 1)[1].split("```", 1)[0], namespace)
    return namespace


@dataclasses.dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """A real HTTP server on 127.0.0.1 in a thread. `answer(received, n)` picks the status of the
    n-th request (1, 2, ...) for that event id."""

    def __init__(self, answer=lambda received, n: 200) -> None:
        self.answer = answer
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received = Received({k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.lock:
                    receiver.requests.append(received)
                    n = sum(
                        1
                        for r in receiver.requests
                        if r.headers[EVENT_ID_HEADER.lower()] == received.headers[EVENT_ID_HEADER.lower()]
                    )
                status = receiver.answer(received, n)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/recorder"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def fast(url: str, **overrides) -> WebhookSettings:
    """Retries shrunk from minutes to tens of milliseconds (the rules are the same)."""
    values = dict(
        endpoints=(Endpoint(url, SECRET),),
        timeout_seconds=2.0,
        retry_base_seconds=0.05,
        retry_max_interval_seconds=0.2,
        retry_window_seconds=60.0,
        poll_seconds=0.05,
    )
    return WebhookSettings(**(values | overrides))


@dataclasses.dataclass
class Replica:
    catalog: Catalog
    stub: catalog_pb2_grpc.CatalogServiceStub
    dispatcher: WebhookDispatcher


@pytest.fixture
async def replicas(database_url):
    """start(settings) -> a catalog replica: its own engine and gRPC server and dispatcher, on the
    test's database (several share it, as replicas do)."""
    await asyncio.to_thread(db.migrate, database_url)
    started = []

    async def start(settings: WebhookSettings, dispatch: bool = True) -> Replica:
        engine = db.create_engine(database_url)
        catalog = Catalog(db.session_factory(engine), webhook_endpoints=settings.endpoints)
        server, port = await create_server(
            CatalogSettings(database_url=database_url, port=0, auth=AUTH_SETTINGS, webhooks=settings),
            CatalogDeps(catalog),
        )
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        dispatcher = WebhookDispatcher(catalog, settings, worker_id=f"replica-{len(started) + 1}")
        if dispatch:
            dispatcher.start()
        started.append((engine, server, channel, dispatcher))
        return Replica(catalog, catalog_pb2_grpc.CatalogServiceStub(channel), dispatcher)

    yield start
    for engine, server, channel, dispatcher in started:
        await dispatcher.stop()
        await channel.close()
        await server.stop(2)
        await engine.dispose()


async def until(condition, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"still waiting after {timeout} s for {what}"
        await asyncio.sleep(0.02)


async def deliveries(catalog: Catalog) -> list[WebhookDelivery]:
    async with catalog.sessions() as session:
        return list((await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id))).scalars())


async def test_a_real_receiver_gets_a_signed_ready_event(replicas):
    receiver = Receiver()
    try:
        replica = await replicas(
            fast(receiver.url, endpoints=(Endpoint(receiver.url, SECRET, frozenset({"video.ready"})),))
        )
        video_id = await new_video(replica.catalog)
        await make_ready(replica.catalog, video_id)

        async def delivered():
            return [d for d in await deliveries(replica.catalog) if d.state == "delivered"]

        [delivery] = await until(delivered, "the READY delivery")
        [received] = receiver.requests  # only video.ready was asked for
        header = received.headers[SIGNATURE_HEADER.lower()]
        assert verify(SECRET, header, received.body)
        assert not verify("another-secret-0123456789", header, received.body)
        assert not verify(SECRET, header, received.body.replace(b"video.ready", b"video.fails"))
        assert not verify(SECRET, header, received.body, now=time.time() + 301)  # outside the replay window
        event = received.event
        assert event["type"] == "video.ready" and event["video_id"] == video_id and event["owner_id"] == OWNER
        assert event["id"] == received.headers[EVENT_ID_HEADER.lower()] == delivery.event_id
        assert [a["kind"] for a in event["assets"]] == ["COMPRESSED", "THUMBNAIL"]
        assert event["time"].endswith("Z")
        assert received.headers["content-type"] == "application/json"
        assert delivery.attempts == 1 and delivery.last_status_code == 200
        # The README's verification snippet accepts it too (and refuses a changed body).
        readme_verify = readme_snippet()["verify"]
        assert readme_verify(SECRET, header, received.body)["id"] == delivery.event_id
        with pytest.raises(ValueError, match="bad signature"):
            readme_verify(SECRET, header, received.body + b" ")
    finally:
        receiver.close()


async def test_three_500s_then_200_is_delivered_with_the_same_event_id_every_time(replicas):
    receiver = Receiver(answer=lambda received, n: 500 if n <= 3 else 200)
    try:
        replica = await replicas(
            fast(receiver.url, endpoints=(Endpoint(receiver.url, SECRET, frozenset({"video.created"})),))
        )
        video_id = await new_video(replica.catalog)

        async def delivered():
            return [d for d in await deliveries(replica.catalog) if d.state == "delivered"]

        [delivery] = await until(delivered, "delivery after three refusals")
        assert len(receiver.requests) == 4
        assert {r.headers[EVENT_ID_HEADER.lower()] for r in receiver.requests} == {delivery.event_id}
        assert {r.event["id"] for r in receiver.requests} == {delivery.event_id}
        assert {r.body for r in receiver.requests} == {receiver.requests[0].body}  # same body each attempt
        assert [r.headers[ATTEMPT_HEADER.lower()] for r in receiver.requests] == ["1", "2", "3", "4"]
        assert all(verify(SECRET, r.headers[SIGNATURE_HEADER.lower()], r.body) for r in receiver.requests)
        assert receiver.requests[0].event["video_id"] == video_id
        assert delivery.attempts == 4 and delivery.last_status_code == 200 and delivery.finished_at is not None
    finally:
        receiver.close()


async def test_a_receiver_down_for_the_whole_window_ends_dead_lettered(replicas):
    nobody = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    replica = await replicas(fast(nobody, retry_window_seconds=1.0))
    video_id = await new_video(replica.catalog)

    async def dead():
        response = await replica.stub.ListWebhookDeliveries(
            catalog_pb2.ListWebhookDeliveriesRequest(state=catalog_pb2.WEBHOOK_DELIVERY_STATE_DEAD),
            metadata=service(),
            timeout=10,
        )
        return list(response.deliveries)

    [letter] = await until(dead, "the dead letter")
    assert letter.endpoint == nobody and letter.attempts >= 2
    assert "retry window" in letter.last_error and "request failed" in letter.last_error
    assert letter.HasField("finished_at")
    [stored] = await deliveries(replica.catalog)
    assert stored.state == "dead" and stored.event_id == letter.event_id
    events = await replica.stub.WatchEvents(catalog_pb2.WatchEventsRequest(), metadata=service(), timeout=10).read()
    assert events.id == letter.event_id and events.video_id == video_id
    pending = await replica.stub.ListWebhookDeliveries(
        catalog_pb2.ListWebhookDeliveriesRequest(state=catalog_pb2.WEBHOOK_DELIVERY_STATE_PENDING),
        metadata=service(),
        timeout=10,
    )
    assert list(pending.deliveries) == []
    # Internal: a user token does not open it.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await replica.stub.ListWebhookDeliveries(
            catalog_pb2.ListWebhookDeliveriesRequest(), metadata=user("alice"), timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_two_replicas_deliver_each_attempt_exactly_once(replicas):
    # Every event's first attempt fails, so each event has two attempts to fight over.
    receiver = Receiver(answer=lambda received, n: 500 if n == 1 else 200)
    try:
        settings = fast(
            receiver.url, endpoints=(Endpoint(receiver.url, SECRET, frozenset({"video.created"})),), max_in_flight=4
        )
        first = await replicas(settings, dispatch=False)
        second = await replicas(settings, dispatch=False)
        made = await asyncio.gather(
            *(new_video(first.catalog, f"user{n}") for n in range(12)),
            *(new_video(second.catalog, f"user{n}") for n in range(12, 24)),
        )
        first.dispatcher.start()
        second.dispatcher.start()

        async def all_delivered():
            rows = await deliveries(first.catalog)
            return len(rows) == 24 and all(d.state == "delivered" for d in rows) and rows

        rows = await until(all_delivered, "every delivery")
        attempts = collections.Counter(
            (r.headers[EVENT_ID_HEADER.lower()], r.headers[ATTEMPT_HEADER.lower()]) for r in receiver.requests
        )
        assert sorted(attempts.values()) == [1] * 48  # each (event, attempt) once: 24 events x 2 attempts
        assert {event_id for event_id, _ in attempts} == {d.event_id for d in rows}
        assert {r.event["video_id"] for r in receiver.requests} == set(made)
        assert all(d.attempts == 2 for d in rows)
    finally:
        receiver.close()


async def test_two_dispatchers_racing_for_the_same_due_rows_claim_each_once(replicas):
    """The claim itself, without the timing of two loops: both claim the same due rows at once."""
    receiver = Receiver()
    try:
        settings = fast(receiver.url, max_in_flight=50)
        first = await replicas(settings, dispatch=False)
        second = await replicas(settings, dispatch=False)
        for n in range(10):
            await new_video(first.catalog, f"user{n}")
        a, b = await asyncio.gather(first.dispatcher._claim(50), second.dispatcher._claim(50))
        assert len(a) + len(b) == 10
        assert not {c.id for c in a} & {c.id for c in b}
    finally:
        receiver.close()


def test_endpoint_configuration_refuses_what_cannot_be_delivered_safely():
    good = parse_endpoints(
        json.dumps(
            [{"url": "https://hooks.example.com/r", "secret": SECRET, "events": ["video.ready", "video.failed"]}]
        )
    )
    assert good[0].wants("video.ready") and not good[0].wants("video.created")
    assert parse_endpoints("") == ()
    for entries, words in (
        ([{"url": "ftp://example.com/x", "secret": SECRET}], "http:// or https://"),
        ([{"url": "file:///etc/passwd", "secret": SECRET}], "http:// or https://"),
        ([{"url": "https:///no-host", "secret": SECRET}], "with a host"),
        ([{"url": "https://user:pw@example.com/", "secret": SECRET}], "credentials"),
        ([{"url": "https://example.com/", "secret": "short"}], "at least 16"),
        ([{"url": "https://example.com/", "secret": SECRET, "events": ["video.exploded"]}], "unknown types"),
        ([{"url": "https://example.com/", "secret": SECRET}] * 2, "twice"),
        ({"url": "https://example.com/"}, "JSON list"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_endpoints(json.dumps(entries))
    with pytest.raises(ValueError, match="not JSON"):
        parse_endpoints("[{")
    # The catalog's settings load them, so a bad entry stops the catalog at start.
    with pytest.raises(ValueError, match="http:// or https://"):
        CatalogSettings.from_env({"WEBHOOK_ENDPOINTS": json.dumps([{"url": "gopher://x", "secret": SECRET}])})
    assert (
        CatalogSettings.from_env({"WEBHOOK_ENDPOINTS": json.dumps([{"url": "http://127.0.0.1:9/h", "secret": SECRET}])})
        .webhooks.endpoints[0]
        .url
        == "http://127.0.0.1:9/h"
    )


def test_backoff_doubles_with_jitter_up_to_its_cap():
    assert [retry_delay(n, 30, 3600, rand=lambda: 0.999999) for n in (1, 2, 3)] == pytest.approx(
        [30, 60, 120], rel=1e-5
    )
    assert retry_delay(1, 30, 3600, rand=lambda: 0.0) == 15  # jitter: half to all of the delay
    assert retry_delay(30, 30, 3600, rand=lambda: 0.999999) == pytest.approx(3600, rel=1e-5)


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"id":"e"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1700000000, body) == f"t=1700000000,v1={expected}"
    assert verify(SECRET, f"t=1700000000,v1=00,v1={expected}", body, now=1700000100)
    assert not verify(SECRET, "v1=" + expected, body, now=1700000000)  # no timestamp


@pytest.fixture
async def clocked(database_url):
    """A catalog on a stepped clock with one endpoint (no server): lease and retention rules."""
    await asyncio.to_thread(db.migrate, database_url)
    engine = db.create_engine(database_url)
    clock = SteppedClock()
    receiver = Receiver()
    settings = fast(receiver.url)
    catalog = Catalog(db.session_factory(engine), clock=clock, webhook_endpoints=settings.endpoints)
    yield catalog, clock, settings, receiver
    receiver.close()
    await engine.dispose()


async def test_a_replica_that_dies_mid_attempt_loses_its_lease_to_the_next_attempt(clocked):
    catalog, clock, settings, receiver = clocked
    dead_replica = WebhookDispatcher(catalog, settings, worker_id="died")
    survivor = WebhookDispatcher(catalog, settings, worker_id="survivor")
    try:
        await new_video(catalog)
        [claimed] = await dead_replica._claim(10)  # ... and then the process is gone
        assert await survivor._claim(10) == []  # its lease still holds
        clock.advance(settings.lease_seconds + 1)
        assert await survivor.deliver_due() == 1
        [delivery] = await deliveries(catalog)
        assert (delivery.state, delivery.attempts) == ("delivered", 2)
        assert [r.headers[ATTEMPT_HEADER.lower()] for r in receiver.requests] == ["2"]
        # The first attempt's result, should it still come, changes nothing.
        await dead_replica._finish(claimed, "pending", 500, "late")
        [delivery] = await deliveries(catalog)
        assert (delivery.state, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)
    finally:
        await dead_replica.stop()
        await survivor.stop()


async def test_retention_keeps_events_whose_delivery_is_unfinished(clocked):
    catalog, clock, settings, receiver = clocked
    dispatcher = WebhookDispatcher(catalog, settings)
    try:
        for _ in range(2):
            await new_video(catalog)
        clock.advance(3600)
        assert await dispatcher.deliver_due() == 2  # both delivered: their events may go
        undelivered = await new_video(catalog)
        clock.advance(3600)
        await new_video(catalog)
        assert await events.prune(catalog.sessions, clock(), retention_seconds=1800) == 2
        rows = await deliveries(catalog)
        assert [d.state for d in rows] == ["pending", "pending"]  # the delivered ones went with their events
        # The third event is old enough but its delivery is pending: it stays, and so does the fourth.
        assert await events.prune(catalog.sessions, clock() + dt.timedelta(days=1), retention_seconds=1800) == 0
        assert rows[0].event_id == (await stored_event_ids(catalog, undelivered))[0]
    finally:
        await dispatcher.stop()


async def stored_event_ids(catalog: Catalog, video_id: str) -> list[str]:
    async with catalog.sessions() as session:
        return list((await session.execute(select(FeedEvent.event_id).where(FeedEvent.video_id == video_id))).scalars())
