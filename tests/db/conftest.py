"""Engines for the database tests: SQLite in the test's folder, and PostgreSQL when it runs (the
run's own database, tests/databases.py, emptied before and after)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.db import make_engine
from tests.databases import empty_run_pg_database, run_pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path: Path):
    if request.param == "sqlite":
        yield make_engine(f"sqlite:///{tmp_path / 'pins.sqlite3'}")
        return
    url = run_pg_database()
    empty_run_pg_database()
    yield make_engine(url)
    empty_run_pg_database()
