"""Feed a spider's start() to Scrapy only as fast as the downloader takes it.

Scrapy 2.19 reads start() on, one request per loop turn, while the downloader is full: every
pin of an ids file or a database query ends up waiting in the scheduler at once (about 2 KB
each in memory, or on disk in a JOBDIR; 20,000 pins took the crawl from 110 to 150 MB RSS).
Items yielded by start() that make downloads (images) would all enter the downloader's queue.

Pausing start() is not enough. Scrapy's docs (`start-requests-lazy`) wait for
`scheduler_empty` before each request when the engine needs to back out, and while the
downloader is not full the engine takes one start() request per loop turn: measured here at 0
ms latency, the scheduler then runs dry, the downloader falls to 3-10 requests at once, and
the crawl loses 20-40% of its throughput. So `put` keeps the scheduler topped up itself,
through the engine's public `crawl()`, with up to `high` requests, and sleeps in steps of
`poll_s` while it is full (or while the downloader holds more than its concurrency plus
`high`: items that download, like images, go there directly). A step is one timer; at 1,000
requests/s a buffer of 64 outlasts it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


class LazyStart:
    def __init__(self, crawler: Crawler, high: int | None = None, poll_s: float = 0.02) -> None:
        self.crawler = crawler
        concurrency = crawler.settings.getint("CONCURRENT_REQUESTS")
        self.high = high if high is not None else max(64, 4 * concurrency)
        self.downloads_cap = concurrency + self.high
        self.poll_s = poll_s

    def full(self) -> bool:
        stats = self.crawler.stats
        waiting = (stats.get_value("scheduler/enqueued") or 0) - (stats.get_value("scheduler/dequeued") or 0)
        engine = self.crawler.engine
        downloading = len(engine.downloader.active) if engine is not None else 0
        return waiting >= self.high or downloading >= self.downloads_cap

    async def put(self, request: Request) -> None:
        """Schedule `request` as soon as the scheduler has room for it."""
        await self.room()
        engine = self.crawler.engine
        assert engine is not None
        engine.crawl(request)

    async def room(self) -> None:
        """Return when there is room for one more request or downloading item."""
        while self.full():
            await asyncio.sleep(self.poll_s)
