"""Pinterest's API wants the cookies and headers of a live web session. This middleware makes one
and signs every API request with it, on the session base (crawler/middlewares/session.py): one
warm-up at a time, signed at download time only, a new session after an expiry.

The warm-up opens the home page once in the browser (scrapy-playwright) to let its JavaScript set
`csrftoken`, and falls back to plain HTTP, reading the token from the page's script, when no
browser can start. A 403 CSRF answer means the session died.

Requests opt in with `meta["pinterest_api"] = True`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from scrapy import Request

from crawler.browser import first_line
from crawler.middlewares.session import SessionMiddleware, SessionUnavailable
from crawler.parsers.pinterest import PinterestSession, app_version_from_html, session_from_http

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)


class PinterestSessionMiddleware(SessionMiddleware[PinterestSession]):
    site = "Pinterest"
    stop_reason = "pinterest_session_failed"
    stats_prefix = "pinterest/session"
    retries_setting = "PINTEREST_SESSION_RETRIES"

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        settings = crawler.settings
        self.home_url = settings.get("PINTEREST_BASE_URL").rstrip("/") + "/"
        self.use_browser = settings.getbool("BROWSER_ENABLED")
        self.close_browser = settings.getbool("PINTEREST_CLOSE_BROWSER_AFTER_WARMUP", True)
        self._browser_failed = False

    def wants(self, request: Request) -> bool:
        return bool(request.meta.get("pinterest_api"))

    def sign(self, request: Request, session: PinterestSession) -> tuple[list[bytes], list[str]]:
        headers = session.headers()
        for name, value in headers.items():
            request.headers[name] = value
        # Cookies come from the session only: Scrapy's jar would add nothing and cost CPU.
        request.meta["dont_merge_cookies"] = True
        return [name.encode() for name in headers], []

    def expired(self, request: Request, response: Response) -> bool:
        return response.status == 403 and b"CSRF" in response.body[:2000]

    async def make_session(self) -> PinterestSession:
        session: PinterestSession | None = None
        if self.use_browser and not self._browser_failed:
            try:
                session = await self._browser_session()
            except SessionUnavailable:
                raise  # the site's answer, not the browser's fault
            except Exception as exc:  # the browser cannot start or the page failed: HTTP still works
                self._browser_failed = True
                logger.warning("Browser warm-up failed (%s); trying plain HTTP", first_line(exc))
        if session is None:
            try:
                session = await self._http_session()
            except SessionUnavailable:
                raise
            except Exception as exc:  # refused, timed out, DNS...: no session, say why once
                raise SessionUnavailable(f"{self.home_url}: {first_line(exc)}") from exc
        if not session.csrftoken:
            raise SessionUnavailable(f"{self.home_url} set no csrftoken cookie")
        self.crawler.stats.inc_value(f"pinterest/session/{session.source}")
        logger.info("Pinterest session ready (%s, %d cookies)", session.source, len(session.cookies))
        return session

    async def _browser_session(self) -> PinterestSession:
        request = Request(
            self.home_url,
            dont_filter=True,
            meta={
                "playwright": True,
                "playwright_include_page": True,
                "playwright_context": "pinterest-warmup",
                # a failure falls back to plain HTTP (which retries); a retry here would open
                # pages that nobody closes
                "dont_retry": True,
            },
        )
        try:
            response = await self._download(request)
        except BaseException:
            page = request.meta.get("playwright_page")  # set early for exactly this case
            if page is not None:
                self._closing_browser = asyncio.ensure_future(self._close_page(page))
            raise
        page = response.meta["playwright_page"]
        try:
            cookies = await page.context.cookies(self.home_url)
            if not any(c["name"] == "csrftoken" for c in cookies):  # set by a late script
                await page.wait_for_function("document.cookie.includes('csrftoken=')", timeout=10_000)
                cookies = await page.context.cookies(self.home_url)
            user_agent = await page.evaluate("navigator.userAgent")
        finally:
            # Closed in the background: API calls need not wait for it.
            self._closing_browser = asyncio.ensure_future(self._close_page(page))
        return PinterestSession(
            cookies={c["name"]: c["value"] for c in cookies},
            app_version=app_version_from_html(response.text),
            user_agent=user_agent,
            source="browser",
        )

    async def _close_page(self, page: Any) -> None:
        with contextlib.suppress(Exception):  # already closed, or the browser died
            await page.close()
        browser = page.context.browser
        if self.close_browser and browser is not None:
            # API calls need no browser; a later warm-up relaunches it (scrapy-playwright's
            # PLAYWRIGHT_RESTART_DISCONNECTED_BROWSER), and a long crawl does not carry it.
            with contextlib.suppress(Exception):
                await browser.close()
        else:
            with contextlib.suppress(Exception):
                await page.context.close()

    async def _http_session(self) -> PinterestSession:
        request = Request(self.home_url, dont_filter=True, meta={"dont_merge_cookies": True})
        response = await self._download(request)
        set_cookies: dict[str, str] = {}
        for header in response.headers.getlist("Set-Cookie"):
            name, _, rest = header.decode("latin-1").partition("=")
            set_cookies[name.strip()] = rest.split(";", 1)[0].strip()
        return session_from_http(response.text, set_cookies)

    async def _download(self, request: Request) -> Response:
        engine = self.crawler.engine
        assert engine is not None
        response = await engine.download_async(request)
        if response.status != 200:
            raise SessionUnavailable(f"{request.url} answered HTTP {response.status}")
        return response
