"""`scrapy crawl`, plus argument checks before anything starts.

Scrapy builds the spider inside the running reactor, so a bad `-a` argument would surface as a
traceback after a screen of start-up logging. Spiders that define `check_arguments(**kwargs)` get
it called here first, before Scrapy logs anything: a wrong argument ends the run with one line on
stderr and exit code 2. A crawl that a component stopped for a failure (its finish_reason)
exits with 1.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

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


def _refuse_unsuitable_database(url: str) -> None:
    """A bad DATABASE_URL, or a database whose schema this code cannot use (made by a newer
    version, or needing an upgrade a crawl does not make by itself): one line before anything
    starts. A database that can be brought up to date safely is, here (crawler/db/schema.py)."""
    from crawler.db.engine import create_engine_for, printable_url
    from crawler.db.schema import SchemaError, ensure_schema

    try:
        engine = create_engine_for(url)
        done = ensure_schema(engine, printable_url(url))
        engine.dispose()
    except DatabaseURLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except SchemaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception:  # out of reach for now: the crawl waits for it (crawler/db/outage.py)
        return
    if done:
        print(done, file=sys.stderr)  # before Scrapy's logging starts


def _refuse_damaged_database(url: str) -> None:
    """A damaged SQLite file would fail mid-crawl, losing work: refuse it before the start."""
    if not url.startswith("sqlite"):
        return
    try:
        path = sqlite_path(url)
    except DatabaseURLError:
        return
    damage = damage_report(path)
    if damage is not None:
        print(
            f"error: database {path} is damaged ({damage}); run `scrapy pindb repair` first", file=sys.stderr
        )
        sys.exit(1)


class Command(ScrapyCrawlCommand):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        super().process_options(args, opts)
        if len(args) != 1 or self.settings is None:
            return  # Scrapy's own usage message follows
        try:
            spidercls = get_spider_loader(self.settings).load(args[0])
        except KeyError:
            return
        check = getattr(spidercls, "check_arguments", None)
        try:
            if check is not None:
                check(**opts.spargs)
        except ArgumentError as exc:
            print(f"error: {args[0]}: {exc}", file=sys.stderr)
            sys.exit(2)
        url = self.settings.get("DATABASE_URL") or ""
        _refuse_damaged_database(url)
        if url:
            _refuse_unsuitable_database(url)

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
