"""`scrapy crawl`, plus argument and database checks before anything starts.

Scrapy builds the spider inside the running reactor, so a bad `-a` argument would surface as a
traceback after a screen of start-up logging. Spiders that define `check_arguments(**kwargs)` get
it called here first, before Scrapy logs anything: a wrong argument ends the run with one line on
stderr and exit code 2. A crawl that a component stopped for a failure (its finish_reason)
exits with 1.

Under Scrapyd (`python -m scrapyd.runner crawl SPIDER -a _job=ID -s LOG_FILE=...`) the same
command runs: `_job` is Scrapyd's, not the spider's, and the one line also goes to LOG_FILE,
the job's log, since Scrapyd keeps a job's stderr only in its own log.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.spiderloader import get_spider_loader

from crawler.db.engine import DatabaseURLError
from crawler.db.repair import damage_report, sqlite_path
from crawler.params import ArgumentError

if TYPE_CHECKING:
    import argparse

# Ends that are not failures: done, stopped by the user (Ctrl+C), or a CLOSESPIDER_* limit.
_SUCCESS_REASONS = {
    "finished",
    "shutdown",
    "closespider_itemcount",
    "closespider_pagecount",
    "closespider_timeout",
    "closespider_errorcount",
    "max_downloads",  # jdpower: -a max_downloads=N reached
}


def _refuse(message: str, code: int, log_file: str | None) -> NoReturn:
    """End the command with one line, on stderr and in the log file the crawl would have had."""
    print(f"error: {message}", file=sys.stderr)
    if log_file:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with contextlib.suppress(OSError), open(log_file, "a", encoding="utf-8") as log:
            log.write(f"{stamp} [crawler.commands.crawl] ERROR: {message}\n")
    sys.exit(code)


def _refuse_unsuitable_database(url: str, log_file: str | None) -> None:
    """A bad DATABASE_URL, or a database whose schema this code cannot use (made by a newer
    version, or needing an upgrade a crawl does not make by itself): one line before anything
    starts. A database that can be brought up to date safely is, here (crawler/db/schema.py)."""
    from crawler.db.engine import create_engine_for, printable_url
    from crawler.db.outage import is_outage, reason
    from crawler.db.schema import SchemaError, ensure_schema

    try:
        engine = create_engine_for(url)
        done = ensure_schema(engine, printable_url(url))
        engine.dispose()
    except DatabaseURLError as exc:
        _refuse(str(exc), 2, log_file)
    except SchemaError as exc:
        _refuse(str(exc), 1, log_file)
    except Exception as exc:
        if is_outage(exc):  # out of reach for now: the crawl waits for it (crawler/db/outage.py)
            return
        _refuse(f"database {printable_url(url)}: {reason(exc)}", 1, log_file)
    if done:
        print(done, file=sys.stderr)  # before Scrapy's logging starts


def _refuse_damaged_database(url: str, log_file: str | None) -> None:
    """A damaged SQLite file would fail mid-crawl, losing work: refuse it before the start."""
    if not url.startswith("sqlite"):
        return
    try:
        path = sqlite_path(url)
    except DatabaseURLError:
        return
    damage = damage_report(path)
    if damage is not None:
        _refuse(f"database {path} is damaged ({damage}); run `scrapy pindb repair` first", 1, log_file)


class Command(ScrapyCrawlCommand):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if len(args) != 1 or self.settings is None:
            return  # Scrapy's own usage message follows
        try:
            spidercls = get_spider_loader(self.settings).load(args[0])
        except KeyError:
            return
        log_file = self.settings.get("LOG_FILE")
        check = getattr(spidercls, "check_arguments", None)
        try:
            if check is not None:
                check(**{k: v for k, v in opts.spargs.items() if k != "_job"})
        except ArgumentError as exc:
            _refuse(f"{args[0]}: {exc}", 2, log_file)
        url = self.settings.get("DATABASE_URL") or ""
        _refuse_damaged_database(url, log_file)
        if url:
            _refuse_unsuitable_database(url, log_file)

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        super().run(args, opts)
        crawler = getattr(self, "_crawler", None)
        if self.exitcode == 0 and crawler is not None and crawler.stats is not None:
            reason = crawler.stats.get_value("finish_reason")
            if reason is not None and reason not in _SUCCESS_REASONS:
                self.exitcode = 1  # e.g. no session could be started: a script must notice
            elif crawler.stats.get_value("database/unavailable"):
                self.exitcode = 1  # rows left unwritten, even if the crawl had ended by then

    def _create_crawler(self, *args: Any, **kwargs: Any) -> Any:
        self._crawler = super()._create_crawler(*args, **kwargs)
        return self._crawler
