"""`scrapy crawl pins`: fetch pin details from Pinterest's PinResource API.

    scrapy crawl pins -a ids_file=ids.txt [-a keyword=K]   # ids, pin URLs or base64 node ids
    scrapy crawl pins -a keyword=K                         # that keyword's stored pins lacking details
    scrapy crawl pins                                      # every stored pin lacking details

Without an ids file it first converts stored base64 node ids to numeric ids.

Pins already fetched (or refused by the API) in the database are skipped, so a re-run after a
stop or a crash only does what is left. The session (cookies, CSRF token) is added to each API
request by PinterestSessionMiddleware; the database writes by DatabaseWriterPipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.components import add_components
from crawler.db import make_engine
from crawler.db.maintenance import convert_node_ids
from crawler.db.outage import DatabaseUnavailable, Outage
from crawler.db.pins import finished_ids, ids_lacking_details, lacking_image, lacking_image_among
from crawler.items import PinDetails, PinImage, PinRefusal
from crawler.lazy_start import LazyStart
from crawler.middlewares.session import SessionUnavailable
from crawler.params import PinsParams
from crawler.parsers import MalformedResponse
from crawler.parsers.pinterest import (
    fallback_image_url,
    parse_ids_lines,
    parse_pin_resource,
    pin_resource_url,
)

_CHUNK = 1000

# Scrapy's defaults that a JSON API crawl has no use for (no links followed, no allowed_domains,
# no HTTP auth, no HTML), each a step of every request's or response's way through the engine:
# 5-10% of a 0 ms crawl's CPU (bench/pins.py --latency-ms 0).
_UNUSED = {
    "scrapy.spidermiddlewares.depth.DepthMiddleware": "SPIDER_MIDDLEWARES",
    "scrapy.spidermiddlewares.referer.RefererMiddleware": "SPIDER_MIDDLEWARES",
    "scrapy.spidermiddlewares.urllength.UrlLengthMiddleware": "SPIDER_MIDDLEWARES",
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": "SPIDER_MIDDLEWARES",
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": "DOWNLOADER_MIDDLEWARES",
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": "DOWNLOADER_MIDDLEWARES",
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": "DOWNLOADER_MIDDLEWARES",
}


def pinterest_api_components(settings: Any) -> None:
    """What a crawl of Pinterest's API brings, beside what every spider shares: the session
    (a browser warm-up, then signed requests), one site (the per-domain cap follows
    CONCURRENT_REQUESTS), and none of the middlewares it never uses."""
    add_components(
        settings,
        "DOWNLOADER_MIDDLEWARES",
        {
            # before Retry (550): Retry's copies carry the signature, which request_scheduled strips
            "crawler.middlewares.pinterest_session.PinterestSessionMiddleware": 540,
            **{path: None for path, kind in _UNUSED.items() if kind == "DOWNLOADER_MIDDLEWARES"},
        },
    )
    add_components(
        settings,
        "SPIDER_MIDDLEWARES",
        {path: None for path, kind in _UNUSED.items() if kind == "SPIDER_MIDDLEWARES"},
    )
    settings.set("BROWSER_ENABLED", True, priority="spider")
    settings.set("CONCURRENCY_ONE_SITE", True, priority="spider")


class PinsSpider(scrapy.Spider):
    name = "pins"

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        pinterest_api_components(settings)
        # before the writer: it records where each image was saved
        add_components(settings, "ITEM_PIPELINES", {"crawler.pipelines.images.PinImagesPipeline": 300})
        settings.set("FILES_STORE", "data/images", priority="spider")  # <keyword>/<pin id>.<ext>

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        spider_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k not in ("ids_file", "keyword", "images")}
        super().__init__(*args, **spider_kwargs)
        self.params = PinsParams.parse(**kwargs)

    @classmethod
    def check_arguments(cls, **kwargs: Any) -> None:
        PinsParams.parse(**kwargs)

    async def start(self) -> AsyncIterator[scrapy.Request | PinImage]:
        # every read waits out a database outage, as the writer does (crawler/db/outage.py)
        self.outage = Outage.of(self.crawler)
        try:
            async for request_or_image in self._start():
                yield request_or_image
        except DatabaseUnavailable as exc:
            self.outage.give_up(exc)

    async def _start(self) -> AsyncIterator[scrapy.Request | PinImage]:
        base_url = self.settings.get("PINTEREST_BASE_URL").rstrip("/")
        engine = await self.outage.run(make_engine, self.settings.get("DATABASE_URL"))
        if self.params.ids_file is None:
            # the workflow's first stage: stored base64 node ids become numeric pin ids. It runs
            # before any item exists, so the writer pipeline has nothing to write meanwhile.
            converted = await self.outage.run(convert_node_ids, engine)
            if converted.converted or converted.merged:
                self.logger.info(
                    "Converted %d node ids to pin ids (%d merged into pins already stored)",
                    converted.converted,
                    converted.merged,
                )
        lazy = LazyStart(self.crawler)
        queued = images = 0
        async for chunk in self._id_chunks(engine):
            # file reads and database queries run off the reactor thread, one chunk at a time;
            # ids from the database are unfinished already, ids from a file may not be
            done = await self.outage.run(finished_ids, engine, chunk) if self.params.ids_file else set()
            self.crawler.stats.inc_value("pins/skipped_done", len(done))
            if done and self.params.images:
                # details stored, image not recorded: stopped in between, or fetched with images=0
                for pin_id, keyword, url in await self.outage.run(lacking_image_among, engine, done):
                    images += 1
                    self.crawler.stats.inc_value("pins/images_queued")
                    await lazy.room()
                    yield PinImage(pin_id, keyword, url, fallback_image_url(url))
            for pin_id in chunk:
                if pin_id in done:
                    continue
                queued += 1
                self.crawler.stats.set_value("progress/total", queued)
                # straight to the scheduler, a buffer at a time: crawler/lazy_start.py says why
                await lazy.put(
                    scrapy.Request(
                        pin_resource_url(base_url, pin_id),
                        callback=self.parse_pin,
                        errback=self.pin_failed,
                        meta={"pin_id": pin_id, "pinterest_api": True, "handle_httpstatus_list": [404, 410]},
                    )
                )
        self.crawler.stats.set_value("pins/queued", queued)
        self.crawler.stats.set_value("progress/total", queued)
        if self.params.images and self.params.ids_file is None:
            # pins fetched earlier whose image is not recorded (images=0 then, or a stop): the
            # images pipeline skips files already on disk and records their path
            after = ""
            while rows := await self.outage.run(lacking_image, engine, self.params.keyword, after, _CHUNK):
                for pin_id, keyword, url in rows:
                    images += 1
                    self.crawler.stats.inc_value("pins/images_queued")
                    await lazy.room()
                    yield PinImage(pin_id, keyword, url, fallback_image_url(url))
                after = rows[-1][0]
        if queued == 0 and images == 0:
            self.logger.info("Nothing to do: every pin asked for is already in the database")

    async def _id_chunks(self, engine: Any) -> AsyncIterator[list[str]]:
        """Pin ids to consider, in chunks of at most _CHUNK: from the ids file, or the database's
        pins lacking details, a page at a time (a page that meets an outage is asked again)."""
        if self.params.ids_file is not None:
            lines = self._ids_from_file()
            while (chunk := await asyncio.to_thread(next, lines, None)) is not None:
                yield chunk
            return
        after = ""
        while ids := await self.outage.run(ids_lacking_details, engine, self.params.keyword, after, _CHUNK):
            yield ids
            after = ids[-1]

    def _ids_from_file(self) -> Iterator[list[str]]:
        path = self.params.ids_file
        assert path is not None
        chunk: list[str] = []
        with path.open(encoding="utf-8") as lines:
            for number, pin_id, problem in parse_ids_lines(lines):
                if pin_id is None:
                    self.logger.error("%s:%d: %s; line skipped", path, number, problem)
                    self.crawler.stats.inc_value("pins/bad_input_lines")
                    continue
                chunk.append(pin_id)
                if len(chunk) >= _CHUNK:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    def parse_pin(self, response: Response) -> Iterator[PinDetails | PinRefusal | PinImage | scrapy.Request]:
        pin_id = response.meta["pin_id"]
        try:
            item = parse_pin_resource(response.body, pin_id, keyword=self.params.keyword)
        except MalformedResponse as exc:
            self.logger.warning("Malformed answer for pin %s (HTTP %d): %s", pin_id, response.status, exc)
            self.crawler.stats.inc_value("pins/malformed")
            assert response.request is not None
            retry = get_retry_request(response.request, spider=self, reason="malformed_response")
            if retry is not None:
                yield retry
            else:  # retries used up: the next run asks again
                self.crawler.stats.inc_value("pins/failed")
                self.crawler.stats.inc_value("progress/failed")
            return
        self.crawler.stats.inc_value("pins/details" if isinstance(item, PinDetails) else "pins/refused")
        self.crawler.stats.inc_value("progress/done")
        yield item
        if self.params.images and isinstance(item, PinDetails) and item.image_url:
            yield PinImage(item.id, item.keyword, item.image_url, fallback_image_url(item.image_url))

    def pin_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        self.crawler.stats.inc_value("pins/failed")
        self.crawler.stats.inc_value("progress/failed")
        if failure.check(SessionUnavailable):
            return  # said once by the middleware, which stops the crawl
        self.logger.warning(
            "Pin %s not fetched: %s; the next run will try it again",
            request.meta.get("pin_id"),
            failure.getErrorMessage() or repr(failure.value),
        )
