"""scrapy-playwright's download handler, one instance for both http and https.

Scrapy builds one handler per URL scheme, and each scrapy-playwright handler starts its own
Playwright driver (a Node process, ~0.3 s of CPU at start) and would launch its own browser.
One shared instance per crawler halves that and keeps one browser, one set of contexts.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import weakref
from typing import TYPE_CHECKING, Any

from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from scrapy_playwright.provider import PlaywrightBrowserProvider

from crawler import driver
from crawler.browser import BrowserUnavailable, first_line
from crawler.handlers.http import AsyncioHTTPDownloadHandler

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class BrowserDied(Exception):
    """A browser page was loading when its browser died."""


_instances: weakref.WeakKeyDictionary[Any, dict[type, Any]] = weakref.WeakKeyDictionary()


class EarlyDriverProvider(PlaywrightBrowserProvider):
    """scrapy-playwright's own provider, on the driver BrowserAddon started (crawler/driver.py)."""

    def __init__(self, config: Any, early_driver: subprocess.Popen[bytes] | None = None) -> None:
        super().__init__(config)
        self.early_driver = early_driver

    async def start(self) -> None:
        early, self.early_driver = self.early_driver, None
        self.playwright_context_manager, self.playwright = await driver.start_playwright(early)
        self.browser_type = getattr(self.playwright, self.config.browser_type_name)


class BrowserDownloadHandler(ScrapyPlaywrightDownloadHandler):
    """Browser pages (`meta["playwright"]`) through Playwright; every other download through
    the HTTP client HTTP_CLIENT names (crawler/handlers/http.py), not scrapy-playwright's
    fallback, which is Scrapy's Twisted client."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        early = driver.take(crawler)
        if crawler.settings.get("PLAYWRIGHT_BROWSER_PROVIDER") or self.config.use_threaded_loop:
            driver.discard(early)
        else:
            self.browser_provider_cls = functools.partial(EarlyDriverProvider, early_driver=early)  # type: ignore[assignment]
        self._http = self._make_http_handler(crawler)
        self._browser_downloads: set[asyncio.Future[Response]] = set()
        self._orphaned: set[asyncio.Future[Response]] = set()
        self._unavailable: BrowserUnavailable | None = None

    async def _launch(self) -> None:
        """scrapy-playwright's start (Playwright's driver) at engine start. When the driver does
        not start, every browser page fails at once with why (whoever asked for it says so: the
        jdpower login stops the crawl, the pins warm-up goes on over plain HTTP). scrapy-
        playwright left a traceback from the engine's signal, and each page failed with "start()
        must be awaited before launch_browser()": the jdpower login tried 5 times over 7 s.
        A NODE_OPTIONS holding an option Node.js refuses does that."""
        try:
            await super()._launch()
        except Exception as exc:
            options = os.environ.get("NODE_OPTIONS")
            hint = f"; NODE_OPTIONS is {options!r}: Node.js says above if it refused one" if options else ""
            self._unavailable = BrowserUnavailable(
                f"the browser cannot start: Playwright's driver (Node.js) failed: {first_line(exc)}{hint}"
            )

    @staticmethod
    def _make_http_handler(crawler: Crawler) -> Any:
        if crawler.settings.get("HTTP_CLIENT", "asyncio") == "twisted":
            return None  # scrapy-playwright's own: Scrapy's Twisted handler
        return AsyncioHTTPDownloadHandler(crawler)

    async def download_request(self, request: Request) -> Response:
        if self._http is not None and not request.meta.get("playwright"):
            return await self._http.download_request(request)
        if self._unavailable is not None and request.meta.get("playwright"):
            raise self._unavailable
        task = asyncio.ensure_future(super().download_request(request))
        self._browser_downloads.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            if task in self._orphaned:
                raise BrowserDied(f"the browser died while {request.url} was loading") from None
            raise
        finally:
            self._browser_downloads.discard(task)
            self._orphaned.discard(task)

    async def _browser_disconnected_callback(self) -> None:
        """The browser died (killed, crashed): the pages it was loading fail now, and are
        retried in the browser scrapy-playwright launches next. Some of Playwright's calls on
        a dead browser's objects never answer: such a request stood still for good, with its
        browser context's turn (seen with the browser killed while a page was being opened)."""
        for task in list(self._browser_downloads):
            if not task.done():
                self._orphaned.add(task)
                task.cancel()
        await super()._browser_disconnected_callback()

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
        if self._http is not None:
            await self._http.close()
        # scrapy-playwright closes every context it still lists and stops at the first error
        # other than TargetClosedError, never closing the browser then: a context a spider or
        # middleware closed a moment before answers "Failed to find context" (seen in CI, with
        # a traceback in the log). Each is closed here on its own, whatever it answers.
        wrappers = list(self.context_wrappers.values())
        self.context_wrappers.clear()
        await asyncio.gather(
            *(asyncio.wait_for(wrapper.context.close(), 10) for wrapper in wrappers), return_exceptions=True
        )
        await super().close()
