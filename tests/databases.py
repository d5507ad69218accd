"""Databases for tests: PostgreSQL databases of a test's own, and databases as the code before
migrations made them (tests/fixtures/db/today.*.sql: pins and vehicles, dumped from what
commit 69bc865's create-on-use made, on SQLite and on PostgreSQL)."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crawler.db.engine import dispose_all

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "db"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TABLES = ("pins", "vehicles")


def pg_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def own_pg_database() -> Iterator[str]:
    """A PostgreSQL database of the caller's own, dropped afterwards: its URL."""
    if not pg_up():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"crawler_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


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
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: [dict(row._mapping) for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]
                for table in TABLES
            }
    finally:
        engine.dispose()
