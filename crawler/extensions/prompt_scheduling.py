"""Refill the downloader as soon as a response arrives.

Scrapy's engine asks the scheduler for the next request when a response has been fully
processed (callback, item pipelines). Meanwhile the freed download slot sits idle. A server with
a steady latency answers a crawl's requests in bursts of CONCURRENT_REQUESTS, and the asyncio
loop interleaves the processing of a whole burst, so every slot waits for most of the burst:
about 5% of the throughput a user asked for at 200 ms and 16 at once (bench/pins.py). This
extension starts the next requests on `response_received`, before the response is parsed. It
calls the engine's internal `_start_scheduled_requests` (what the engine's own `nextcall` runs)
and does nothing if that changes in a later Scrapy.

It also takes the objects left by start-up (imports, settings) out of the garbage collector's
reach (`gc.freeze()`): they live for the whole crawl, and every full collection would walk them
again while responses wait. No collection first: it found 5 unreachable objects among 118,000
and cost 65 ms of every crawl's start-up.
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class PromptScheduling:
    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("PROMPT_SCHEDULING_ENABLED", True):
            raise NotConfigured
        self.crawler = crawler
        crawler.signals.connect(self._refill, signal=signals.response_received)
        crawler.signals.connect(self._freeze_startup_objects, signal=signals.spider_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PromptScheduling:
        return cls(crawler)

    def _refill(self, **_: Any) -> None:
        start_waiting_requests(self.crawler)

    @staticmethod
    def _freeze_startup_objects(**_: Any) -> None:
        gc.freeze()


def start_waiting_requests(crawler: Crawler) -> None:
    """Have the engine start the scheduler's waiting requests now, as its `nextcall` would.

    Only with requests waiting: the engine's function ends with an idle check, and on
    `response_received` the response is not yet with the scraper, so with nothing waiting the
    engine would close the spider before the callback could yield its follow-up requests."""
    engine = crawler.engine
    slot = getattr(engine, "_slot", None)
    start_next = getattr(engine, "_start_scheduled_requests", None)
    scheduler = getattr(slot, "scheduler", None)
    if start_next is None or scheduler is None or getattr(slot, "closing", None):
        return
    if scheduler.has_pending_requests():
        start_next()
