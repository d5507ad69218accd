"""`scrapy crawl pins_search -a keyword=K [-a limit=N]`: collect a keyword's pins from Pinterest's
search resource (BaseSearchResource), page after page (`bookmark`) until the last (`-end-`) or
N pins. The pins are stored under the keyword; `scrapy crawl pins -a keyword=K` fetches their
details. A pin already stored keeps its keyword and details."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.http import Response

from crawler.items import SearchHit
from crawler.params import PinsSearchParams
from crawler.parsers import MalformedResponse
from crawler.parsers.pinterest import parse_search_page, search_url
from crawler.spiders.pins import pinterest_api_components


class PinsSearchSpider(scrapy.Spider):
    name = "pins_search"

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        pinterest_api_components(settings)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        spider_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k not in ("keyword", "limit")}
        super().__init__(*args, **spider_kwargs)
        self.params = PinsSearchParams.parse(**kwargs)
        self.found = 0

    @classmethod
    def check_arguments(cls, **kwargs: Any) -> None:
        PinsSearchParams.parse(**kwargs)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.params.limit is not None:
            self.crawler.stats.set_value("progress/total", self.params.limit)
        yield self._page(None)

    def _page(self, bookmark: str | None) -> scrapy.Request:
        base_url = self.settings.get("PINTEREST_BASE_URL").rstrip("/")
        return scrapy.Request(
            search_url(base_url, self.params.keyword, bookmark),
            callback=self.parse_page,
            meta={"pinterest_api": True},
        )

    def parse_page(self, response: Response) -> Iterator[SearchHit | scrapy.Request]:
        try:
            page = parse_search_page(response.body, self.params.keyword)
        except MalformedResponse as exc:
            self.logger.warning("Malformed search page (HTTP %d): %s", response.status, exc)
            self.crawler.stats.inc_value("pins_search/malformed")
            assert response.request is not None
            retry = get_retry_request(response.request, spider=self, reason="malformed_response")
            if retry is not None:
                yield retry
            return
        self.crawler.stats.inc_value("pins_search/pages")
        limit = self.params.limit
        for hit in page.hits:
            if limit is not None and self.found >= limit:
                break
            self.found += 1
            self.crawler.stats.inc_value("progress/done")
            yield hit
        self.crawler.stats.set_value("pins_search/found", self.found)
        if page.bookmark and (limit is None or self.found < limit):
            yield self._page(page.bookmark)
        else:
            self.logger.info("Search %r: %d pins", self.params.keyword, self.found)
