"""The pins spider inside the test's own reactor (pytest-twisted, asyncio), items collected through
the `item_scraped` signal: what the spider yields, independent of the database."""

from __future__ import annotations

from pathlib import Path

import pytest_twisted
from scrapy import signals
from scrapy.crawler import CrawlerRunner
from scrapy.settings import Settings

from crawler.items import PinDetails, PinRefusal
from crawler.spiders.pins import PinsSpider
from tests.conftest import write_ids
from tests.databases import database


def _settings(**overrides: object) -> Settings:
    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    settings.update(overrides, priority="cmdline")
    return settings


@pytest_twisted.inlineCallbacks
def test_spider_yields_details_and_refusals(make_sandbox, tmp_path: Path):
    sb = make_sandbox(missing_rate=0.2, seed=11)
    ids = write_ids(tmp_path / "ids.txt", range(950_000, 950_060))
    runner = CrawlerRunner(
        _settings(
            SANDBOX_URL=sb.url,
            BROWSER_ENABLED=False,
            LOG_LEVEL="WARNING",
            DATABASE_URL=database(tmp_path).url,
            FILES_STORE=str(tmp_path / "images"),
            METRICS_DIR=str(tmp_path / "metrics"),
        )
    )
    crawler = runner.create_crawler(PinsSpider)
    items: list[object] = []

    def collect(item: object) -> None:
        items.append(item)

    crawler.signals.connect(collect, signal=signals.item_scraped, weak=False)
    yield crawler.crawl(ids_file=str(ids), keyword="birds")

    details = [i for i in items if isinstance(i, PinDetails)]
    refusals = [i for i in items if isinstance(i, PinRefusal)]
    assert len(details) + len(refusals) == 60
    assert 3 <= len(refusals) <= 25
    assert {i.id for i in items} == {str(n) for n in range(950_000, 950_060)}
    assert all(r.status == "not_found" for r in refusals)
    assert all(d.keyword == "birds" and d.image_url and d.board_name for d in details)
    assert crawler.stats.get_value("pins/details") == len(details)
    assert crawler.stats.get_value("database/rows_written") == 60


@pytest_twisted.inlineCallbacks
def test_ids_reach_the_scheduler_a_buffer_at_a_time(make_sandbox, tmp_path: Path):
    """3,000 ids, never more than the feeder's buffer (64) waiting in the scheduler at once;
    Scrapy alone would have queued all of them while the first 16 downloaded."""
    sb = make_sandbox(latency_ms=20)
    ids = write_ids(tmp_path / "ids.txt", range(970_000, 973_000))
    runner = CrawlerRunner(
        _settings(
            SANDBOX_URL=sb.url,
            BROWSER_ENABLED=False,
            LOG_LEVEL="WARNING",
            DATABASE_URL=database(tmp_path).url,
            FILES_STORE=str(tmp_path / "images"),
            METRICS_DIR=str(tmp_path / "metrics"),
        )
    )
    crawler = runner.create_crawler(PinsSpider)
    waiting: list[int] = []

    def scheduled(request: object, spider: object) -> None:
        stats = crawler.stats
        waiting.append(stats.get_value("scheduler/enqueued", 0) - stats.get_value("scheduler/dequeued", 0))

    crawler.signals.connect(scheduled, signal=signals.request_scheduled, weak=False)
    yield crawler.crawl(ids_file=str(ids))
    assert crawler.stats.get_value("pins/details") == 3000
    assert len(waiting) == 3000
    assert max(waiting) <= 64, max(waiting)
