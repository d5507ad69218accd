"""The single database writer: every item reaches the database through this pipeline only."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from functools import partial
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured

from crawler.db import make_engine
from crawler.db.pins import insert_new_pins, upsert_pins
from crawler.items import PinDetails, PinImage, PinRefusal, SearchHit

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

from sqlalchemy import Engine

logger = logging.getLogger(__name__)


def pin_row(item: PinDetails | PinRefusal) -> dict[str, Any]:
    """An item -> the `pins` columns it sets."""
    row = {f.name: getattr(item, f.name) for f in fields(item)}
    if isinstance(item, PinDetails):
        row.update(status=None, error=None)  # a pin that answers now is no longer refused
    return row


def _write(engine: Engine, new: list[dict[str, Any]], rows: list[dict[str, Any]]) -> int:
    """One flush, on the writer thread: new pins first, then details (which may be for them)."""
    return insert_new_pins(engine, new) + upsert_pins(engine, rows)


class DatabaseWriterPipeline:
    """Batches items and upserts them on one dedicated thread.

    Scrapy's own thread helpers use a shared pool; a single-thread executor is what keeps the
    writes ordered and the SQLite file free of competing writers, while the reactor never waits
    on the database. A batch is written when it reaches DATABASE_BATCH_SIZE rows, at least every
    DATABASE_FLUSH_INTERVAL seconds, and at close (a Ctrl+C included).
    """

    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.url = settings.get("DATABASE_URL")
        if not self.url:
            raise NotConfigured("DATABASE_URL is empty")
        self.batch_size = settings.getint("DATABASE_BATCH_SIZE", 500)
        self.interval = settings.getfloat("DATABASE_FLUSH_INTERVAL", 1.0)
        self.stats = crawler.stats
        self._buffer: list[dict[str, Any]] = []  # upserts: details and refusals
        self._new: list[dict[str, Any]] = []  # inserts of pins not stored yet: search hits
        self._pending: set[asyncio.Future[int]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DatabaseWriterPipeline:
        return cls(crawler)

    async def open_spider(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-writer")
        self._engine = await self._loop.run_in_executor(self._executor, make_engine, self.url)
        self._timer = self._loop.call_later(self.interval, self._tick)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, PinDetails | PinRefusal):
            self._buffer.append(pin_row(item))
        elif isinstance(item, SearchHit):
            self._new.append({"id": item.id, "keyword": item.keyword})
        elif isinstance(item, PinImage):
            if item.path is None:
                return item  # not saved: the next run tries again
            self._buffer.append({"id": item.id, "image_path": item.path})
        else:
            return item
        if len(self._buffer) + len(self._new) >= self.batch_size:
            self._flush()
        return item

    def _tick(self) -> None:
        self._flush()
        self._timer = self._loop.call_later(self.interval, self._tick)

    def _flush(self) -> None:
        if not (self._buffer or self._new) or self._executor is None or self._engine is None:
            return
        rows, self._buffer = self._buffer, []
        new, self._new = self._new, []
        future = self._loop.run_in_executor(self._executor, _write, self._engine, new, rows)
        self._pending.add(future)
        future.add_done_callback(partial(self._written, count=len(rows) + len(new)))

    def _written(self, future: asyncio.Future[int], *, count: int) -> None:
        self._pending.discard(future)
        if future.cancelled():
            return
        exc = future.exception()
        if exc is not None:
            # Nothing already committed is touched; these pins stay without details in the
            # database, so the next run fetches them again.
            logger.error("Database write of %d rows failed: %s", count, exc)
            self.stats.inc_value("database/rows_failed", count)
            return
        self.stats.inc_value("database/rows_written", future.result())
        self.stats.inc_value("database/batches")

    async def close_spider(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._flush()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
