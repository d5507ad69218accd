"""Engines by URL: SQLite (WAL, the embedded default) or PostgreSQL, each at the schema this code
needs (crawler/db/schema.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from crawler.db.schema import ensure_schema

_lock = threading.Lock()
_engines: dict[str, Engine] = {}


class DatabaseURLError(ValueError):
    pass


def make_engine(url: str) -> Engine:
    """One engine per URL per process, its schema at this code's (crawler/db/schema.py).
    Raises DatabaseURLError, or SchemaError when the database needs a step of the user's."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_engine_for(url)
            ensure_schema(engine, printable_url(url))
            _engines[url] = engine
        return engine


def printable_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "DATABASE_URL"


def upsert_insert(engine: Engine) -> Callable[..., Any]:
    """The `insert` of `engine`'s dialect, the one with ON CONFLICT. Imported when first used:
    the PostgreSQL dialect's import alone is 30 ms of every crawl's start, SQLite's 3 ms."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def create_engine_for(url: str) -> Engine:
    """An engine for `url` as it is, its schema untouched (make_engine is the usual way)."""
    try:
        parsed = make_url(url)
    except Exception:
        raise DatabaseURLError(f"DATABASE_URL {url!r} is not a database URL") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # a write lock held by another process: SQLite waits this long, then the writer's
        # back-off takes over (crawler/db/outage.py), which can say so and wait far longer
        engine = create_engine(parsed, connect_args={"timeout": 5})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True)
    raise DatabaseURLError(f"DATABASE_URL {url!r}: only sqlite:/// and postgresql:// are supported")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    # WAL: readers (checks, the spider's queries) never block the writer thread, and a crash
    # leaves committed transactions intact.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
