"""Browser requests that say `meta["reuse_page"] = True` open in a page their browser context
has done with (crawler.browser.PagePool), when it has one, instead of a new page.

The page is given to the request here, while it is downloaded, not when the spider makes the
request: a Page in the meta of a scheduled request cannot go into a JOBDIR queue. scrapy-
playwright then navigates that page (`meta["playwright_page"]`) as it would a new one, page
init callback included. A spider puts a page back with `PagePool.of(crawler).put(page, name)`
once it is done with it, and closes it instead when the page's state is in doubt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crawler.browser import PagePool

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


class PagePoolMiddleware:
    def __init__(self, pool: PagePool) -> None:
        self.pool = pool

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PagePoolMiddleware:
        return cls(PagePool.of(crawler))

    def process_request(self, request: Request) -> None:
        meta = request.meta
        if meta.get("reuse_page") and meta.get("playwright") and meta.get("playwright_page") is None:
            page = self.pool.take(meta.get("playwright_context", "default"))
            if page is not None:
                meta["playwright_page"] = page
