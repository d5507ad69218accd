"""The writer pipeline, driven as Scrapy drives it (asyncio reactor via pytest-twisted)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest_twisted
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.test import get_crawler

from crawler.items import PinDetails, PinRefusal
from crawler.pipelines.database import DatabaseWriterPipeline


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


def _pipeline(db: Path, batch_size: int, interval: float) -> tuple[Any, DatabaseWriterPipeline]:
    settings = {
        "DATABASE_URL": f"sqlite:///{db}",
        "DATABASE_BATCH_SIZE": batch_size,
        "DATABASE_FLUSH_INTERVAL": interval,
    }
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    return crawler, DatabaseWriterPipeline.from_crawler(crawler)


@pytest_twisted.ensureDeferred
async def test_batches_commit_within_a_second_and_at_close(tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite3"
    crawler, pipe = _pipeline(db, batch_size=1000, interval=0.3)

    async def scenario() -> None:
        await pipe.open_spider()
        writer_threads: set[str] = set()
        for i in range(10):
            pipe.process_item(_details(str(i)))
        pipe.process_item(PinRefusal(id="99", status="not_found", error="40: Pin not found."))
        assert _count(db) == 0  # below the batch size: nothing yet
        await asyncio.sleep(0.8)  # the timer flushes
        assert _count(db) == 11
        writer_threads.add(pipe._executor._threads.copy().pop().name)
        pipe.process_item(_details("1"))  # the same pin again
        pipe.process_item(_details("50"))
        await pipe.close_spider()
        assert _count(db) == 12
        assert writer_threads == {"db-writer_0"}  # one dedicated writer thread

    await deferred_from_coro(scenario())
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status, error FROM pins WHERE id='99'").fetchone() == (
            "not_found",
            "40: Pin not found.",
        )
    assert crawler.stats.get_value("database/rows_written") == 13  # 11 + 2 (one an update)
    assert threading.current_thread() is threading.main_thread()


@pytest_twisted.ensureDeferred
async def test_full_batch_is_written_without_waiting_for_the_timer(tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite3"
    _, pipe = _pipeline(db, batch_size=5, interval=60)

    async def scenario() -> None:
        await pipe.open_spider()
        for i in range(5):
            pipe.process_item(_details(str(i)))
        await asyncio.gather(*pipe._pending)
        assert _count(db) == 5
        await pipe.close_spider()

    await deferred_from_coro(scenario())
