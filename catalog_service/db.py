"""Engines and migrations. The same code runs on SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import pathlib

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = pathlib.Path(__file__).parent / "migrations"


def sync_url(url: str) -> str:
    """Normalise a user-given URL to the sync driver Alembic uses."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+psycopg")
    elif u.drivername.startswith("sqlite"):
        u = u.set(drivername="sqlite")
    return u.render_as_string(hide_password=False)


def async_url(url: str) -> str:
    u = make_url(sync_url(url))
    if u.drivername == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    return u.render_as_string(hide_password=False)


def _ensure_sqlite_dir(url: str) -> None:
    u = make_url(url)
    if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:":
        pathlib.Path(u.database).parent.mkdir(parents=True, exist_ok=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), "head")


def create_engine(url: str) -> AsyncEngine:
    _ensure_sqlite_dir(url)
    target = async_url(url)
    if target.startswith("sqlite"):
        engine = create_async_engine(target, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            # WAL lets readers run beside the writer; foreign keys make ON DELETE CASCADE work.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(target, pool_size=10, max_overflow=10, pool_pre_ping=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
