"""The writer pipeline, driven as Scrapy drives it (asyncio reactor via pytest-twisted): batches,
and database outages ridden out (a SQLite file write-locked by another connection, PostgreSQL
behind a proxy that drops every connection)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler
from sqlalchemy import text
from sqlalchemy.engine import make_url

from crawler.db import make_engine
from crawler.db.outage import is_outage
from crawler.db.writers import Route, TableWriter
from crawler.items import PinDetails, PinRefusal
from crawler.pipelines import database as database_pipeline
from crawler.pipelines.database import DatabaseWriterPipeline
from tests.conftest import in_reactor
from tests.databases import run_pg_database
from tests.tcp_proxy import TcpProxy


def _details(pin_id: str) -> PinDetails:
    return PinDetails(
        id=pin_id,
        title=f"t{pin_id}",
        description=None,
        link=None,
        image_url="u",
        image_width=1,
        image_height=2,
        board_name="b",
        pinner_username="p",
        saves=3,
        created_at=None,
        details_fetched_at=datetime.now(UTC),
    )


def _count(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM pins").fetchone()[0]


class FakeEngine:
    """What the writer asks of Scrapy's engine: pause() and unpause()."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def unpause(self) -> None:
        self.calls.append("unpause")

    async def close_spider_async(self, *, reason: str) -> None:
        self.calls.append(f"close:{reason}")


def _pipeline(url: str, **overrides: Any) -> tuple[Any, DatabaseWriterPipeline, FakeEngine]:
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.update({"DATABASE_URL": url, **overrides}, priority="cmdline")
    crawler = get_crawler(settings_dict=settings.copy_to_dict())
    crawler.stats.open_spider()
    engine = FakeEngine()
    crawler.engine = engine  # type: ignore[assignment]
    return crawler, DatabaseWriterPipeline.from_crawler(crawler), engine


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def _sqlite(tmp_path: Path, **overrides: Any) -> tuple[Path, Any, DatabaseWriterPipeline, FakeEngine]:
    db = tmp_path / "p.sqlite3"
    crawler, pipe, engine = _pipeline(f"sqlite:///{db}", **overrides)
    return db, crawler, pipe, engine


class WriteLock:
    """Another process's write transaction on a SQLite file (BEGIN EXCLUSIVE), held until released."""

    def __init__(self, db: Path) -> None:
        self.conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


@in_reactor
async def test_batches_commit_within_a_second_and_at_close(tmp_path: Path) -> None:
    db, crawler, pipe, _ = _sqlite(tmp_path, DATABASE_BATCH_SIZE=1000, DATABASE_FLUSH_INTERVAL=0.3)
    await pipe.open_spider()
    for i in range(10):
        pipe.process_item(_details(str(i)))
    pipe.process_item(PinRefusal(id="99", status="not_found", error="40: Pin not found."))
    assert _count(db) == 0  # below the batch size: nothing yet
    await asyncio.sleep(0.8)  # the timer flushes
    assert _count(db) == 11
    assert pipe._executor is not None
    writer_threads = {t.name for t in pipe._executor._threads}
    pipe.process_item(_details("1"))  # the same pin again
    pipe.process_item(_details("50"))
    await pipe.close_spider()
    assert _count(db) == 12
    assert writer_threads == {"db-writer_0"}  # one dedicated writer thread
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status, error FROM pins WHERE id='99'").fetchone() == (
            "not_found",
            "40: Pin not found.",
        )
    assert crawler.stats.get_value("database/rows_written") == 13  # 11 + 2 (one an update)
    assert threading.current_thread() is threading.main_thread()


@in_reactor
async def test_full_batch_is_written_without_waiting_for_the_timer(tmp_path: Path) -> None:
    db, _, pipe, _ = _sqlite(tmp_path, DATABASE_BATCH_SIZE=5, DATABASE_FLUSH_INTERVAL=60)
    await pipe.open_spider()
    for i in range(5):
        pipe.process_item(_details(str(i)))
    await _until(lambda: _count(db) == 5)
    await pipe.close_spider()


@in_reactor
async def test_a_write_locked_sqlite_file_holds_rows_pauses_the_crawl_and_loses_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, crawler, pipe, engine = _sqlite(
        tmp_path, DATABASE_BATCH_SIZE=10, DATABASE_MAX_PENDING_ROWS=30, DATABASE_FLUSH_INTERVAL=0.2
    )
    await pipe.open_spider()
    lock = WriteLock(db)  # another process writing for a long time
    caplog.set_level(logging.INFO)
    for i in range(25):
        pipe.process_item(_details(str(i)))
    assert engine.calls == []  # 25 waiting, below DATABASE_MAX_PENDING_ROWS
    for i in range(25, 40):
        pipe.process_item(_details(str(i)))
    assert engine.calls == ["pause"]  # 30 waiting: no new requests
    await asyncio.sleep(6)  # past SQLite's own 5 s wait: the writer's back-off holds the rows
    assert pipe.pending == 40 and _count(db) == 0
    lock.release()
    await _until(lambda: _count(db) == 40)
    assert engine.calls == ["pause", "unpause"]
    await pipe.close_spider()
    assert _count(db) == 40
    stats = crawler.stats
    assert stats.get_value("database/outages") == 1 and stats.get_value("database/paused_seconds") > 5
    assert stats.get_value("database/rows_failed") is None
    said = [r.getMessage() for r in caplog.records if r.name == "crawler.db.outage"]
    assert len(said) == 2, said
    assert "unavailable (database is locked)" in said[0]
    lasted = float(said[1].split("back after ")[1].split(" s")[0])
    assert 6 <= lasted < 9  # from the first write that met the lock


@in_reactor
async def test_past_the_outage_timeout_one_line_and_the_crawl_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db, crawler, pipe, engine = _sqlite(tmp_path, DATABASE_BATCH_SIZE=5, DATABASE_OUTAGE_TIMEOUT=1)
    await pipe.open_spider()
    for i in range(5):
        pipe.process_item(_details(str(i)))
    await _until(lambda: _count(db) == 5)
    lock = WriteLock(db)
    try:
        for i in range(5, 12):
            pipe.process_item(_details(str(i)))
        await _until(lambda: crawler.stats.get_value("database/unavailable") == 1, timeout=20)
        await pipe.close_spider()
    finally:
        lock.release()
    assert _count(db) == 5  # what was written stays
    assert "close:database_unavailable" in engine.calls
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert (
        str(db) in errors[0] and "DATABASE_OUTAGE_TIMEOUT" in errors[0] and "stopping the crawl" in errors[0]
    )


@in_reactor
async def test_postgresql_dropping_every_connection_is_ridden_out(caplog: pytest.LogCaptureFixture) -> None:
    server = make_url(run_pg_database())
    proxy = TcpProxy(server.port or 5432, server.host or "127.0.0.1").start()
    caplog.set_level(logging.INFO)
    try:
        await _postgresql_outage(proxy, server.database or "")
    finally:
        proxy.stop()
    said = [r.getMessage() for r in caplog.records if r.name == "crawler.db.outage"]
    assert len(said) == 2 and "unavailable" in said[0] and "back after" in said[1], said
    assert all("postgres:***@127.0.0.1" in line for line in said)  # the password never
    assert not [r for r in caplog.records if "s3cret-pw" in r.getMessage()]


async def _postgresql_outage(proxy: TcpProxy, name: str) -> None:
    url = f"postgresql://postgres:s3cret-pw@127.0.0.1:{proxy.port}/{name}"
    crawler, pipe, engine = _pipeline(url, DATABASE_BATCH_SIZE=10, DATABASE_MAX_PENDING_ROWS=20)
    await pipe.open_spider()
    assert pipe._engine is not None
    db = pipe._engine

    def count() -> int:
        with db.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM pins WHERE id LIKE 'pg-%'")).scalar_one()

    with db.begin() as conn:
        conn.execute(text("DELETE FROM pins WHERE id LIKE 'pg-%'"))
    for i in range(10):
        pipe.process_item(_details(f"pg-{i}"))
    await _until(lambda: count() == 10)
    proxy.down()  # the server goes away: connections reset, new ones refused
    for i in range(10, 35):
        pipe.process_item(_details(f"pg-{i}"))
    await asyncio.sleep(1.5)
    assert engine.calls == ["pause"] and pipe.pending == 25
    proxy.up()
    await _until(lambda: pipe.pending == 0)
    await pipe.close_spider()
    proxy.up()
    assert count() == 35
    assert engine.calls == ["pause", "unpause"]
    assert crawler.stats.get_value("database/outages") == 1


def test_what_counts_as_an_outage(tmp_path: Path) -> None:
    db = tmp_path / "o.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    lock = WriteLock(db)
    try:
        with pytest.raises(Exception) as locked, engine.begin() as conn:
            conn.execute(text("INSERT INTO pins (id) VALUES ('1')"))
    finally:
        lock.release()
    assert is_outage(locked.value)
    with pytest.raises(Exception) as wrong, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    assert not is_outage(wrong.value)  # trying again would not help
    with pytest.raises(Exception) as down:
        make_engine("postgresql://postgres@127.0.0.1:9/test")  # nothing listens there
    assert is_outage(down.value)


@in_reactor
async def test_an_item_type_registered_for_a_table_is_written_without_a_change_to_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @dataclass
    class Note:  # what a new source's item might be
        text: str

    notes: list[dict] = []
    table = TableWriter("notes", lambda engine, rows: notes.extend(rows) or len(rows), order=2)
    known = database_pipeline.routes()
    monkeypatch.setattr(
        database_pipeline, "routes", lambda: {**known, Note: Route(table, lambda n: {"t": n.text})}
    )
    db, crawler, pipe, _ = _sqlite(tmp_path, DATABASE_BATCH_SIZE=100)
    await pipe.open_spider()
    unknown = object()
    assert pipe.process_item(Note("a")) == Note("a")
    assert pipe.process_item(_details("1")) is not None
    assert pipe.process_item(unknown) is unknown  # not the writer's: passed on, untouched
    await pipe.close_spider()
    assert notes == [{"t": "a"}] and _count(db) == 1
    assert crawler.stats.get_value("database/rows_written") == 2
