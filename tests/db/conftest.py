"""Engines for the database tests: SQLite in the test's folder, and PostgreSQL when it runs on
127.0.0.1:5432 (database `test`, emptied before and after)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from crawler.db import make_engine
from tests.databases import TABLES, pg_up


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path: Path):
    if request.param == "sqlite":
        yield make_engine(f"sqlite:///{tmp_path / 'pins.sqlite3'}")
        return
    if not pg_up():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    eng = make_engine("postgresql://postgres@127.0.0.1:5432/test")
    _empty(eng)
    yield eng
    _empty(eng)


def _empty(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        for table in TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
