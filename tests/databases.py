"""Databases for tests.

- `database(tmp_path)`: the database a test's crawls write to. A SQLite file in the test's
  folder (`make test`), or with `pytest --database=postgresql` (`make test-postgres`) the run's
  own PostgreSQL database, created at the start of the run, emptied before each test and
  dropped at the end.
- `run_pg_database()`: that run-wide PostgreSQL database, for tests that always try both
  backends (tests/db); in a SQLite run it is made on first use and dropped at the end too.
- `own_pg_database()`: a PostgreSQL database of one test's own.
- `made_before_migrations`: databases as the code before migrations made them
  (tests/fixtures/db/today.*.sql: pins and vehicles, dumped from what commit 69bc865's
  create-on-use made, on SQLite and on PostgreSQL).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from crawler.db import make_engine
from crawler.db.engine import dispose_all

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "db"
# the PostgreSQL server's maintenance database: the runs' own databases are made through it
PG_ADMIN = os.environ.get("CRAWLER_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TABLES = ("pins", "vehicles")  # those the code before migrations made
EMPTIED = (*TABLES, "tasks", "link_results", "link_comments")  # what a test starts without

_run_pg: dict[str, str] = {}  # "url": the run's own PostgreSQL database, once made
_postgresql_run = False  # pytest --database=postgresql


@dataclass(frozen=True)
class Database:
    """A test's database: its URL, and the folder its crawls write files to."""

    url: str
    folder: Path

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with _engine(self.url).connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]

    def execute(self, sql: str) -> None:
        with _engine(self.url).begin() as conn:
            conn.execute(text(sql))


@cache
def _engine(url: str) -> Engine:
    return create_engine(url, poolclass=NullPool)  # holds no connection a DROP would wait for


def database(tmp_path: Path, name: str = "pins") -> Database:
    """The database of the running test (see the module's docstring)."""
    if _postgresql_run:
        return Database(run_pg_database(), tmp_path)
    return Database(f"sqlite:///{tmp_path / f'{name}.sqlite3'}", tmp_path)


def start_postgresql_run() -> None:
    """pytest --database=postgresql: every test's crawls write to the run's own database."""
    global _postgresql_run
    if not pg_up():
        raise pytest.UsageError(f"--database=postgresql: no PostgreSQL server answers at {PG_ADMIN}")
    _postgresql_run = True
    run_pg_database()


def run_pg_database() -> str:
    """The run's own PostgreSQL database, at the schema's head: made on first use."""
    if "url" not in _run_pg:
        if not pg_up():
            pytest.skip("PostgreSQL is not running")
        name = f"crawler_run_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        _admin_execute(f"CREATE DATABASE {name}")
        _run_pg["url"] = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
        make_engine(_run_pg["url"])
    return _run_pg["url"]


def empty_run_pg_database() -> None:
    if "url" in _run_pg:
        with _engine(_run_pg["url"]).begin() as conn:
            conn.execute(text(f"TRUNCATE {', '.join(EMPTIED)}"))


def drop_run_pg_database() -> None:
    url = _run_pg.pop("url", None)
    if url is not None:
        dispose_all()
        _engine.cache_clear()
        _admin_execute(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")


def _admin_execute(sql: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(sql))


def pg_up() -> bool:
    server = make_url(PG_ADMIN)
    try:
        socket.create_connection((server.host or "127.0.0.1", server.port or 5432), timeout=1).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def own_pg_database() -> Iterator[str]:
    """A PostgreSQL database of the caller's own, dropped afterwards: its URL."""
    if not pg_up():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"crawler_test_{uuid.uuid4().hex[:12]}"
    _admin_execute(f"CREATE DATABASE {name}")
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_all()
        _admin_execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def made_before_migrations(request, tmp_path: Path) -> Iterator[str]:
    """The URL of a database as the code before migrations left it, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "today.sqlite3"
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.executescript((FIXTURES / "today.sqlite.sql").read_text())
        yield f"sqlite:///{path}"
        return
    with own_pg_database() as url:
        loader = create_engine(url)
        with loader.begin() as conn:  # pg_dump's own statements, search_path included
            conn.exec_driver_sql((FIXTURES / "today.postgresql.sql").read_text())
        loader.dispose()
        yield url


def table_rows(url: str) -> dict[str, list[dict]]:
    """Every row of pins and vehicles, in key order, as plain values."""
    with _engine(url).connect() as conn:
        return {
            table: [dict(row._mapping) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]
            for table in TABLES
        }
