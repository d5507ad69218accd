"""A database outage ridden out: which errors are one, the back-off, the clock, and its log lines.

PostgreSQL stopped or restarting, a dropped connection, a SQLite file that another process holds
a write lock on, a full disk: a later try can succeed, so the crawl's writes (the writer
pipeline) and reads (the spider's start) wait and try again instead of ending the crawl.
SQLAlchemy's pool_pre_ping already replaces a dead connection; what it cannot do is wait for the
server to come back. Past DATABASE_OUTAGE_TIMEOUT the crawl stops with one line.

One Outage per crawler, shared by every caller, so an outage is logged once when it begins and
once when it ends, however many writes and reads met it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import exc as sa_exc

from crawler.browser import first_line
from crawler.db.engine import printable_url
from crawler.stopping import stop_crawl

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY = 0.25  # seconds before the first try again; doubles up to MAX_DELAY
MAX_DELAY = 4.0  # a database back is noticed within this
REASON = "database_unavailable"  # the crawl's finish_reason when it gives up

# SQLite's errors that pass: the rest of its OperationalErrors (no such table, syntax) never do
_SQLITE_PASSING = (
    "database is locked",
    "database table is locked",
    "database or disk is full",
    "disk i/o error",
    "unable to open database file",
)


class DatabaseUnavailable(Exception):
    """The database stayed out of reach for DATABASE_OUTAGE_TIMEOUT."""


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the database is out of reach for now, rather than that the call is wrong."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    if not isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    original = getattr(error, "orig", None)
    if isinstance(original, sqlite3.Error):
        message = str(original).lower()
        return any(text in message for text in _SQLITE_PASSING)
    return True  # PostgreSQL: refused, reset, shutting down, starting up


def reason(error: BaseException) -> str:
    """The driver's own first line (SQLAlchemy's adds the statement and a link below it)."""
    return first_line(getattr(error, "orig", None) or error)


class Outage:
    _of: weakref.WeakKeyDictionary[Any, Outage] = weakref.WeakKeyDictionary()

    def __init__(self, url: str, timeout: float, crawler: Crawler | None = None) -> None:
        self.where = printable_url(url)
        self.timeout = timeout
        self.crawler = crawler
        self.since: float | None = None  # when the outage began, while one lasts
        self.tries = 0
        self.gave_up = False

    @classmethod
    def of(cls, crawler: Crawler) -> Outage:
        """The crawler's one Outage (DATABASE_URL, DATABASE_OUTAGE_TIMEOUT)."""
        outage = cls._of.get(crawler)
        if outage is None:
            settings = crawler.settings
            outage = cls(settings.get("DATABASE_URL"), settings.getfloat("DATABASE_OUTAGE_TIMEOUT"), crawler)
            cls._of[crawler] = outage
        return outage

    async def run(self, call: Callable[..., T], *args: Any, executor: Executor | None = None) -> T:
        """`call(*args)` in a thread (`executor`'s, or asyncio's), tried again while the database is
        out of reach. Raises DatabaseUnavailable past the timeout, and any other error at once."""
        loop = asyncio.get_running_loop()
        while True:
            if self.gave_up:
                raise DatabaseUnavailable(f"database {self.where} is unavailable")
            started = time.monotonic()
            try:
                result = await loop.run_in_executor(executor, partial(call, *args))
            except Exception as error:
                if not is_outage(error):
                    raise
                await asyncio.sleep(self.failed(error, started))
                continue
            self.recovered()
            return result

    def failed(self, error: BaseException, started: float) -> float:
        """A try begun at `started` failed for `error`: the seconds to wait before the next one."""
        now = time.monotonic()
        if self.since is None:
            self.since, self.tries = started, 0  # SQLite waits 5 s on a lock before it says so
            logger.warning(
                "Database %s unavailable (%s); waiting for it, at most %.0f s (DATABASE_OUTAGE_TIMEOUT)",
                self.where,
                reason(error),
                self.timeout,
            )
            self._stat("inc_value", "database/outages")
        self.tries += 1
        self._stat("inc_value", "database/retries")
        if now - self.since >= self.timeout:
            raise DatabaseUnavailable(
                f"database {self.where} unavailable for {now - self.since:.0f} s "
                f"(DATABASE_OUTAGE_TIMEOUT): {reason(error)}"
            ) from error
        return min(MAX_DELAY, FIRST_DELAY * 2 ** (self.tries - 1))

    def recovered(self) -> None:
        if self.since is None:
            return
        lasted = time.monotonic() - self.since
        self.since = None
        logger.info("Database %s back after %.1f s", self.where, lasted)
        self._stat("inc_value", "database/outage_seconds", round(lasted, 3))

    def give_up(self, error: DatabaseUnavailable, unwritten: int = 0) -> None:
        """Stop the crawl with one line, once; `unwritten` rows are left for the next run."""
        if self.gave_up:
            return
        self.gave_up = True
        left = f"; {unwritten} rows not written, fetched again by the next run" if unwritten else ""
        logger.error("%s; stopping the crawl%s", error, left)
        self._stat("set_value", "database/unavailable", 1)  # the crawl command exits 1 for it
        stop_crawl(self.crawler, REASON)

    def _stat(self, method: str, key: str, value: float = 1) -> None:
        if self.crawler is not None and self.crawler.stats is not None:
            getattr(self.crawler.stats, method)(key, value)
