"""Signed webhooks on the event feed: configuration, signatures, and the delivery loop.

Each feed event gets one row in `webhook_deliveries` per configured endpoint that wants its type,
in the event's own transaction (catalog_service/events.py). Any catalog replica may deliver: a
dispatcher claims a due delivery with a conditional UPDATE (pending and due, or delivering under a
lapsed lease) that also counts the attempt, so exactly one replica wins each attempt; the lease
outlives the request's timeout, so an attempt is never made twice at once. A 2xx answer ends it
delivered; anything else (another status, a refused connection, a timeout) schedules the next
attempt with exponential backoff and jitter, until the retry window (24 h) is over: then it is
dead, a dead letter listed by ListWebhookDeliveries. Delivery is at-least-once (an answer lost on
the way back means another attempt); the event id, the same in every attempt, is the idempotency key.

The signature (Stripe's scheme): header `Recorder-Signature: t=<unix seconds>,v1=<hex>`, where hex
is HMAC-SHA256 with the endpoint's secret over `<t>.<raw body>`. A receiver recomputes it over the
bytes it received, compares in constant time, and refuses a `t` further than its replay window
(5 minutes, `verify`'s default) from its own clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import random
import socket
import time
import urllib.parse
from collections.abc import Callable, Mapping

import httpx
from sqlalchemy import and_, func, or_, select, update

from catalog_service import events
from catalog_service.batches import housekeeping_batch
from catalog_service.events import DEAD, DELIVERED, DELIVERING, PENDING
from catalog_service.lifecycle import FEED_EVENT_TYPES
from catalog_service.models import FeedEvent, WebhookDelivery, as_utc
from recorder_common import defaults, metrics
from recorder_common.tasks import cancel_and_wait

log = logging.getLogger("recorder.catalog.webhooks")

SIGNATURE_HEADER = "Recorder-Signature"
EVENT_ID_HEADER = "Recorder-Event-Id"
ATTEMPT_HEADER = "Recorder-Delivery-Attempt"
REPLAY_WINDOW_SECONDS = 300
MAX_ERROR_CHARS = 500


# ---- configuration --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str = dataclasses.field(repr=False)
    events: frozenset[str] = frozenset()  # empty: every type

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.events


def parse_endpoints(text: str) -> tuple[Endpoint, ...]:
    """WEBHOOK_ENDPOINTS: a JSON list of {"url", "secret", "events": [types]}. Refuses (ValueError,
    naming the entry) anything but http(s) URLs with a host, empty secrets, unknown event types
    and a URL listed twice, so a bad configuration stops the catalog at start, not at delivery."""
    if not text.strip():
        return ()
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"WEBHOOK_ENDPOINTS is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise ValueError("WEBHOOK_ENDPOINTS must be a JSON list of {url, secret, events}")
    endpoints: list[Endpoint] = []
    for n, entry in enumerate(entries):
        where = f"WEBHOOK_ENDPOINTS[{n}]"
        if not isinstance(entry, dict) or set(entry) - {"url", "secret", "events"}:
            raise ValueError(f"{where} must be an object with url, secret and events only")
        url, secret, types = entry.get("url"), entry.get("secret"), entry.get("events", [])
        if not isinstance(url, str) or len(url) > 2048:
            raise ValueError(f"{where}.url must be a string of at most 2048 characters")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{where}.url must be an http:// or https:// URL with a host, not {url[:80]!r}")
        if parts.username or parts.password:
            raise ValueError(f"{where}.url must not carry credentials; the secret signs each request")
        if not isinstance(secret, str) or len(secret) < 16:
            raise ValueError(f"{where}.secret must be a string of at least 16 characters")
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise ValueError(f"{where}.events must be a list of event types")
        unknown = sorted(set(types) - set(FEED_EVENT_TYPES))
        if unknown:
            raise ValueError(f"{where}.events has unknown types {unknown}; known: {', '.join(FEED_EVENT_TYPES)}")
        if any(e.url == url for e in endpoints):
            raise ValueError(f"{where}.url is listed twice")
        endpoints.append(Endpoint(url, secret, frozenset(types)))
    return tuple(endpoints)


# The settings each read from WEBHOOK_<NAME> (the endpoints have a syntax of their own).
_WEBHOOK_ENV_FIELDS = (
    "timeout_seconds",
    "retry_base_seconds",
    "retry_max_interval_seconds",
    "retry_window_seconds",
    "poll_seconds",
    "max_in_flight",
)


@dataclasses.dataclass(frozen=True)
class WebhookSettings:
    endpoints: tuple[Endpoint, ...] = ()
    timeout_seconds: float = 10.0  # the whole request, connect to last byte
    retry_base_seconds: float = 30.0  # the first retry's delay; doubles each attempt
    retry_max_interval_seconds: float = 3600.0
    retry_window_seconds: float = 86400.0  # from the event: then dead
    poll_seconds: float = 1.0
    max_in_flight: int = 8  # requests at once per dispatcher

    @property
    def lease_seconds(self) -> float:
        # Outlives any request, so a claimed attempt ends before another replica may take it over.
        return self.timeout_seconds * 2 + 10

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "WebhookSettings":
        settings = cls(
            endpoints=parse_endpoints(env.get("WEBHOOK_ENDPOINTS", "")),
            **defaults.env_fields(env, cls, {name: f"WEBHOOK_{name.upper()}" for name in _WEBHOOK_ENV_FIELDS}),
        )
        for name in ("timeout_seconds", "retry_base_seconds", "retry_max_interval_seconds", "poll_seconds"):
            if getattr(settings, name) <= 0:
                raise ValueError(f"WEBHOOK_{name.upper()} must be positive")
        if settings.retry_window_seconds < 0 or settings.max_in_flight < 1:
            raise ValueError("WEBHOOK_RETRY_WINDOW_SECONDS must not be negative, WEBHOOK_MAX_IN_FLIGHT at least 1")
        return settings


# ---- signatures -------------------------------------------------------------------------------------


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: float | None = None, tolerance_seconds: float = REPLAY_WINDOW_SECONDS
) -> bool:
    """What a receiver does: the header's timestamp is within the replay window of `now` and one
    of its v1 signatures is HMAC-SHA256(secret, "<t>.<body>")."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body).rpartition("v1=")[2]
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))


def retry_delay(attempt: int, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """After failed attempt n (1, 2, ...): base * 2^(n-1), at most cap, times a jitter in [0.5, 1)
    so replicas and endpoints that failed together do not retry together."""
    return min(cap, base * 2 ** min(attempt - 1, 40)) * (0.5 + rand() / 2)


# ---- delivery ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Claimed:
    id: int
    attempt: int
    endpoint: str
    created_at: dt.datetime
    event: FeedEvent


class WebhookDispatcher:
    """Delivers due webhook deliveries of the catalog's database (any replica, see the module
    docstring). start() runs the loop in the background; stop() ends it."""

    def __init__(
        self,
        catalog,
        settings: WebhookSettings,
        worker_id: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{id(self) & 0xFFFF:x}"
        self._endpoints = {e.url: e for e in settings.endpoints}
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_seconds),
            follow_redirects=False,
            trust_env=False,
            transport=transport,
            headers={"User-Agent": "recorder-webhooks/1"},
        )
        self._task: asyncio.Task | None = None
        self._last_backlog_count = -float("inf")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                delivered = await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery round failed; trying again")
                delivered = 0
            if not delivered:
                await asyncio.sleep(self.settings.poll_seconds)

    async def deliver_due(self) -> int:
        """One round: claim up to max_in_flight due attempts and make them. Returns how many."""
        claimed = await self._claim(self.settings.max_in_flight)
        if claimed:
            results = await asyncio.gather(*(self._attempt(c) for c in claimed), return_exceptions=True)
            for c, result in zip(claimed, results):
                if isinstance(result, Exception):
                    # Its lease lapses and the next round (here or on another replica) tries again.
                    log.error("webhook delivery %d attempt %d failed to run", c.id, c.attempt, exc_info=result)
        await self._count_backlog()
        return len(claimed)

    def _due(self, now: dt.datetime):
        return or_(
            and_(WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at <= now),
            and_(WebhookDelivery.state == DELIVERING, WebhookDelivery.lease_expires_at < now),
        )

    async def _claim(self, limit: int) -> list[_Claimed]:
        now = self.catalog.clock()
        async with asyncio.timeout(30):
            async with self.catalog.sessions() as session:
                candidates = list(
                    (
                        await session.execute(
                            select(WebhookDelivery.id)
                            .where(self._due(now))
                            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                            .limit(limit)
                        )
                    ).scalars()
                )
        claimed: list[_Claimed] = []
        for delivery_id in candidates:
            async with asyncio.timeout(30):
                async with self.catalog.transaction() as session:
                    # The claim: exactly one replica's UPDATE matches a due row; it counts the attempt.
                    result = await session.execute(
                        update(WebhookDelivery)
                        .where(WebhookDelivery.id == delivery_id, self._due(now))
                        .values(
                            state=DELIVERING,
                            attempts=WebhookDelivery.attempts + 1,
                            lease_owner=self.worker_id,
                            lease_expires_at=now + dt.timedelta(seconds=self.settings.lease_seconds),
                        )
                        .execution_options(synchronize_session=False)
                    )
                    if result.rowcount != 1:
                        continue  # another replica took it
                    row = (
                        await session.execute(
                            select(WebhookDelivery, FeedEvent)
                            .join(FeedEvent, FeedEvent.cursor == WebhookDelivery.event_cursor)
                            .where(WebhookDelivery.id == delivery_id)
                        )
                    ).one()
                    delivery, event = row
                    claimed.append(
                        _Claimed(delivery.id, delivery.attempts, delivery.endpoint, delivery.created_at, event)
                    )
        return claimed

    async def _attempt(self, claimed: _Claimed) -> None:
        endpoint = self._endpoints.get(claimed.endpoint)
        status_code: int | None = None
        if endpoint is None:
            await self._finish(claimed, DEAD, None, "the endpoint is no longer in WEBHOOK_ENDPOINTS")
            return
        payload = json.dumps(events.body(claimed.event), separators=(",", ":"), sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            EVENT_ID_HEADER: claimed.event.event_id,
            ATTEMPT_HEADER: str(claimed.attempt),
            SIGNATURE_HEADER: signature(endpoint.secret, int(time.time()), payload),
        }
        error: str | None = None
        try:
            # httpx's timeout bounds each phase; this bounds the whole request.
            async with asyncio.timeout(self.settings.timeout_seconds):
                response = await self._client.post(endpoint.url, content=payload, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"answered HTTP {status_code}"
        except (TimeoutError, httpx.TimeoutException):
            error = f"no answer within {self.settings.timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            error = f"request failed: {type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        if error is None:
            await self._finish(claimed, DELIVERED, status_code, None)
            return
        delay = retry_delay(claimed.attempt, self.settings.retry_base_seconds, self.settings.retry_max_interval_seconds)
        now = self.catalog.clock()
        window_ends = as_utc(claimed.created_at) + dt.timedelta(seconds=self.settings.retry_window_seconds)
        if now + dt.timedelta(seconds=delay) > window_ends:
            await self._finish(
                claimed,
                DEAD,
                status_code,
                f"{error} (attempt {claimed.attempt}; retry window of {self.settings.retry_window_seconds:g} s over)",
            )
        else:
            await self._finish(
                claimed,
                PENDING,
                status_code,
                f"{error} (attempt {claimed.attempt})",
                next_attempt_at=now + dt.timedelta(seconds=delay),
            )

    async def _finish(
        self,
        claimed: _Claimed,
        state: str,
        status_code: int | None,
        error: str | None,
        next_attempt_at: dt.datetime | None = None,
    ) -> None:
        now = self.catalog.clock()
        values = dict(
            state=state, lease_owner=None, lease_expires_at=None, last_status_code=status_code, last_error=error
        )
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        if state in (DELIVERED, DEAD):
            values["finished_at"] = now
        async with asyncio.timeout(30):
            async with self.catalog.transaction() as session:
                # Only the attempt this dispatcher holds: a lease that lapsed belongs to the next one.
                result = await session.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == claimed.id,
                        WebhookDelivery.state == DELIVERING,
                        WebhookDelivery.lease_owner == self.worker_id,
                        WebhookDelivery.attempts == claimed.attempt,
                    )
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
        outcome = {DELIVERED: "delivered", DEAD: "dead", PENDING: "retry"}[state]
        metrics.WEBHOOK_ATTEMPTS.labels(outcome=outcome).inc()
        if result.rowcount != 1:
            log.warning(
                "webhook delivery %d attempt %d: lease lost before its result was recorded", claimed.id, claimed.attempt
            )
        elif state != DELIVERED:
            log.warning(
                "webhook delivery %d of event %s to %s: %s", claimed.id, claimed.event.event_id, claimed.endpoint, error
            )

    async def _count_backlog(self) -> None:
        now = time.monotonic()
        if now - self._last_backlog_count < 15:
            return
        self._last_backlog_count = now
        async with asyncio.timeout(30):
            async with self.catalog.sessions() as session:
                backlog = (
                    await session.execute(
                        select(func.count())
                        .select_from(WebhookDelivery)
                        .where(WebhookDelivery.state.in_((PENDING, DELIVERING)))
                    )
                ).scalar_one()
        metrics.WEBHOOK_BACKLOG.set(backlog)


async def list_deliveries(catalog, state: str | None, after_id: int, limit: int) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).where(WebhookDelivery.id > max(after_id, 0))
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    async with catalog.sessions() as session:
        return list(
            (await session.execute(query.order_by(WebhookDelivery.id).limit(housekeeping_batch(limit)))).scalars()
        )
