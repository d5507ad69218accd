"""scrapy-playwright's download handler, one instance for both http and https.

Scrapy builds one handler per URL scheme, and each scrapy-playwright handler starts its own
Playwright driver (a Node process, ~0.3 s of CPU at start) and would launch its own browser.
One shared instance per crawler halves that and keeps one browser, one set of contexts.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_instances: weakref.WeakKeyDictionary[Any, dict[type, Any]] = weakref.WeakKeyDictionary()


class BrowserDownloadHandler(ScrapyPlaywrightDownloadHandler):
    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        per_crawler = _instances.setdefault(crawler, {})
        if cls not in per_crawler:
            per_crawler[cls] = cls(crawler)
        return per_crawler[cls]

    async def close(self) -> None:
        if getattr(self, "_closed", False):  # called once per scheme
            return
        self._closed = True
        await super().close()
