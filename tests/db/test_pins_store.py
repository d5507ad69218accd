from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from crawler.db import make_engine
from crawler.db.engine import DatabaseURLError
from crawler.db.pins import finished_ids, ids_lacking_details, upsert_pins


def test_a_pin_written_twice_is_one_row(engine) -> None:
    now = datetime.now(UTC)
    upsert_pins(engine, [{"id": "1", "keyword": "cats", "title": None}])
    upsert_pins(
        engine,
        [
            {"id": "1", "keyword": None, "title": "A cat", "details_fetched_at": now},
            {"id": "1", "keyword": None, "title": "A cat, again", "details_fetched_at": now},
        ],
    )
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, keyword, title FROM pins")).all()
    assert rows == [("1", "cats", "A cat, again")]  # keyword kept, later row wins


def test_finished_and_lacking(engine) -> None:
    now = datetime.now(UTC)
    upsert_pins(
        engine,
        [
            {"id": "1", "keyword": "k", "details_fetched_at": now},
            {"id": "2", "keyword": "k", "status": "not_found", "error": "40: Pin not found."},
            {"id": "3", "keyword": "k"},
            {"id": "4", "keyword": "other"},
        ],
    )
    assert finished_ids(engine, ["1", "2", "3", "4", "5"]) == {"1", "2"}
    assert ids_lacking_details(engine, "k") == ["3"]
    # a page at a time, after the last id of the one before
    assert ids_lacking_details(engine, None, limit=1) == ["3"]
    assert ids_lacking_details(engine, None, after="3", limit=1) == ["4"]
    assert ids_lacking_details(engine, None, after="4") == []


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'x' / 'wal.sqlite3'}")
    with eng.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_unsupported_database_url() -> None:
    with pytest.raises(DatabaseURLError, match="only sqlite"):
        make_engine("mysql://root@localhost/test")
