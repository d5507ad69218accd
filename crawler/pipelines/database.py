"""The single database writer: every item reaches the database through this pipeline only."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured

from crawler.db import make_engine
from crawler.db.outage import DatabaseUnavailable, Outage
from crawler.db.writers import Row, TableWriter, routes
from crawler.extensions.prompt_scheduling import start_waiting_requests
from crawler.stopping import running_engine

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

from sqlalchemy import Engine

logger = logging.getLogger(__name__)


def _write(engine: Engine, batch: list[tuple[TableWriter, list[Row]]]) -> int:
    """One batch, on the writer thread: each table's rows, in the tables' order."""
    return sum(table.write(engine, rows) for table, rows in batch)


class DatabaseWriterPipeline:
    """Batches items and upserts them on one dedicated thread, through database outages.

    Scrapy's own thread helpers use a shared pool; a single-thread executor is what keeps the
    writes ordered and the SQLite file free of competing writers, while the reactor never waits
    on the database. A batch is written when DATABASE_BATCH_SIZE rows wait, at least every
    DATABASE_FLUSH_INTERVAL seconds, and at close (a Ctrl+C included).

    When the database is out of reach, rows wait and their batch is tried again with back-off
    (crawler/db/outage.py); upserts make a batch written twice one row per pin. The rows waiting
    are bounded: at DATABASE_MAX_PENDING_ROWS the engine stops starting requests (its pause(),
    as the telnet console's) and starts again once half of them are written, so memory stays
    flat however long the outage. Past DATABASE_OUTAGE_TIMEOUT the crawl stops with one line.
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.url = settings.get("DATABASE_URL")
        if not self.url:
            raise NotConfigured("DATABASE_URL is empty")
        self.crawler = crawler
        self.batch_size = settings.getint("DATABASE_BATCH_SIZE")
        self.interval = settings.getfloat("DATABASE_FLUSH_INTERVAL")
        self.max_pending = max(self.batch_size, settings.getint("DATABASE_MAX_PENDING_ROWS"))
        self.stats = crawler.stats
        self._routes = routes()  # item type -> its table and row (crawler/db/writers.py)
        # rows not written yet, in the order their items came: a batch is the oldest rows, so a
        # row that must follow others (a task's end after its results) is never written first
        self._waiting: list[tuple[TableWriter, Row]] = []
        self._writer: asyncio.Task[None] | None = None  # writing, while rows wait
        self._write_all = False  # the writer writes a last, partial batch too
        self._paused_at: float | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DatabaseWriterPipeline:
        return cls(crawler)

    async def open_spider(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._outage = Outage.of(self.crawler)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        try:
            self._engine = await self._outage.run(make_engine, self.url, executor=self._executor)
        except DatabaseUnavailable as exc:
            self._outage.give_up(exc)
            return
        self._timer = self._loop.call_later(self.interval, self._tick)

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def process_item(self, item: Any) -> Any:
        route = self._routes.get(type(item))
        row = route.row(item) if route is not None else None
        if route is None or row is None:
            return item
        self._waiting.append((route.table, row))
        pending = self.pending
        if pending >= self.batch_size:
            self._flush()
        if pending >= self.max_pending and self._paused_at is None:
            self._pause()
        return item

    def _tick(self) -> None:
        self._flush(everything=True)
        self._timer = self._loop.call_later(self.interval, self._tick)

    def _flush(self, *, everything: bool = False) -> None:
        self._write_all = self._write_all or everything
        if self._writer is None and self.pending and self._engine is not None:
            self._writer = self._loop.create_task(self._write_waiting())

    async def _write_waiting(self) -> None:
        """Whole batches while they wait, and the rest when asked to; through outages."""
        assert self._engine is not None
        try:
            while self.pending >= self.batch_size or (self._write_all and self.pending):
                by_table: dict[TableWriter, list[Row]] = {}
                for table, row in self._waiting[: self.batch_size]:
                    by_table.setdefault(table, []).append(row)
                batch = sorted(by_table.items(), key=lambda pair: pair[0].order)
                size = sum(len(rows) for _, rows in batch)
                try:
                    written: int | None = await self._outage.run(
                        _write, self._engine, batch, executor=self._executor
                    )
                except DatabaseUnavailable as exc:
                    self._outage.give_up(exc, unwritten=self.pending)
                    self.stats.inc_value("database/rows_failed", self.pending)
                    self._waiting.clear()
                    return
                except Exception as exc:
                    # not an outage: trying again would fail the same way. Nothing already
                    # committed is touched; these rows' items stay undone, so the next run
                    # fetches them again.
                    logger.error("Database write of %d rows failed: %s", size, exc)
                    self.stats.inc_value("database/rows_failed", size)
                    written = None
                del self._waiting[:size]
                if written is not None:
                    self.stats.inc_value("database/rows_written", written)
                    self.stats.inc_value("database/batches")
                if self._paused_at is not None and self.pending <= self.max_pending // 2:
                    self._resume()
            self._write_all = False
        finally:
            self._writer = None

    def _pause(self) -> None:
        engine = running_engine(self.crawler)
        if engine is None:
            return
        self._paused_at = time.monotonic()
        self.stats.inc_value("database/pauses")
        logger.info("%d rows wait for the database: no new requests until half are written", self.pending)
        engine.pause()

    def _resume(self) -> None:
        assert self._paused_at is not None
        paused = (self.stats.get_value("database/paused_seconds") or 0.0) + time.monotonic() - self._paused_at
        self.stats.set_value("database/paused_seconds", round(paused, 3))
        self._paused_at = None
        logger.info("%d rows wait for the database: requests go on", self.pending)
        engine = running_engine(self.crawler)
        if engine is not None:
            engine.unpause()
            start_waiting_requests(self.crawler)  # else the engine's next heartbeat, up to 5 s later

    async def close_spider(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._flush(everything=True)
        while self._writer is not None:
            await self._writer
            self._flush(everything=True)  # rows the last items added meanwhile
        if self._paused_at is not None:
            self._resume()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
