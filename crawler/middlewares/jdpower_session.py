"""One login to the J.D. Power portal, shared by every request and every browser context.

The login (form, then the licence's JavaScript "Accept") runs once in the browser, on the first
request that needs it; every other request waits for it. Its cookies then go:
- to plain HTTP requests (the inventory API) as a Cookie header;
- to browser requests as the storage state of the context scrapy-playwright creates, and into
  every page's context before it navigates (`playwright_page_init_callback`), so contexts
  made before a re-login get the new session too.
All of that is added while the request is downloaded and removed when a request goes back to
the scheduler (`request_scheduled`), so no cookie reaches the JOBDIR. The password lives in
this object only; it is typed into the form and never logged.

An expired session shows as a redirect to /login (pages) or a 401 (API): the first request to
notice logs in again (once for all of them) and every such request is retried.

Requests opt in with `meta["jdpower"] = True`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest

from crawler.browser import Background, BrowserUnavailable, close_context, close_page, first_line
from crawler.middlewares.throttle import retry_after_seconds
from crawler.params import ArgumentError, jdpower_credentials

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

SESSION_META = _SESSION = "_jdpower_session"  # meta key: the session this middleware added
_ADDED = ("playwright_context_kwargs", "playwright_page_init_callback", _SESSION)
# signal (session=...): a spider's page found the login form, the session it used is dead
SESSION_EXPIRED = object()


class LoginRefused(IgnoreRequest):
    """No login is possible: wrong credentials, none given, or the site down for every try."""


class _Transient(Exception):
    """A login try failed for a reason another try may not meet (HTTP 500, timeout)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # what the site's Retry-After asked for, in seconds


class JDPowerSession:
    def __init__(self, cookies: list[dict[str, Any]]) -> None:
        self.cookies = cookies

    def header(self) -> str:
        return "; ".join(f"{c['name']}={c['value']}" for c in self.cookies)


class JDPowerSessionMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.base_url = settings.get("JDPOWER_BASE_URL").rstrip("/")
        self.max_relogins = settings.getint("JDPOWER_RELOGINS_PER_REQUEST", 3)
        self.login_timeout_ms = settings.getfloat("JDPOWER_LOGIN_TIMEOUT", 60) * 1000
        # a login is ~5 requests: at a 5% error rate (bench/jdpower_long.py) one try in 4.4
        # fails, three in a row 1.2% of logins (a run ended "login_failed" 6 s in), five 0.06%
        self.login_attempts = max(1, settings.getint("JDPOWER_LOGIN_ATTEMPTS", 5))
        self.session: JDPowerSession | None = None
        self._logging_in: asyncio.Future[JDPowerSession] | None = None
        self._failure: LoginRefused | None = None
        self.relogins = 0
        self.background = Background()
        crawler.signals.connect(self._strip_before_queue, signal=signals.request_scheduled)
        crawler.signals.connect(self._expired_elsewhere, signal=SESSION_EXPIRED)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> JDPowerSessionMiddleware:
        return cls(crawler)

    # --- every request ---
    async def process_request(self, request: Request) -> None:
        if not request.meta.get("jdpower"):
            return None
        session = self.session or await self._login()
        request.meta[_SESSION] = session
        if request.meta.get("playwright"):
            kwargs = dict(request.meta.get("playwright_context_kwargs") or {})
            kwargs["storage_state"] = {"cookies": session.cookies, "origins": []}
            request.meta["playwright_context_kwargs"] = kwargs
            request.meta["playwright_page_init_callback"] = self._page_init
        else:
            request.headers["Cookie"] = session.header()
            request.meta["dont_merge_cookies"] = True
        return None

    async def _page_init(self, page: Any, request: Request) -> None:
        if self.session is not None:
            await page.context.add_cookies(self.session.cookies)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        used = request.meta.get(_SESSION)
        if used is None or not self._expired(response):
            return response
        page = request.meta.get("playwright_page")
        if page is not None:
            self.background.spawn(close_page(page))
        if used is self.session:  # the first request to notice drops the dead session
            logger.info("J.D. Power session expired; logging in again")
            self.session = None
        tries = request.meta.get("jdpower_relogin", 0) + 1
        if tries > self.max_relogins:
            raise IgnoreRequest(f"session expired {tries - 1} times while fetching {request.url}")
        retry = request.replace(dont_filter=True)
        retry.meta["jdpower_relogin"] = tries
        for key in (*_ADDED, "playwright_page"):
            retry.meta.pop(key, None)
        retry.headers.pop("Cookie", None)
        return retry

    def _expired(self, response: Response) -> bool:
        if response.status == 401:
            return True
        return urlsplit(response.url).path.rstrip("/") == "/login" and not response.meta.get("jdpower_login")

    def _expired_elsewhere(self, session: Any = None, **kwargs: Any) -> None:
        if session is not None and session is self.session:
            logger.info("J.D. Power session expired; logging in again")
            self.session = None

    def _strip_before_queue(self, request: Request, spider: Any = None) -> None:
        if request.meta.pop(_SESSION, None) is not None:
            for key in _ADDED:
                request.meta.pop(key, None)
            request.headers.pop("Cookie", None)

    # --- the login ---
    async def _login(self) -> JDPowerSession:
        if self._failure is not None:
            raise self._failure
        if self._logging_in is None:
            self._logging_in = asyncio.ensure_future(self._browser_login())
        pending = self._logging_in
        try:
            return await asyncio.shield(pending)
        except LoginRefused as exc:
            self._give_up(exc)
            raise
        finally:
            if pending.done() and self._logging_in is pending:
                self._logging_in = None

    def _give_up(self, exc: LoginRefused) -> None:
        if self._failure is not None:
            return
        self._failure = exc
        self.crawler.stats.inc_value("jdpower/login/failed")
        logger.error("%s; stopping the crawl", exc)
        engine = self.crawler.engine
        if engine is not None:
            self.background.spawn(engine.close_spider_async(reason="login_failed"))

    async def _browser_login(self) -> JDPowerSession:
        try:
            user, password = jdpower_credentials(dict(os.environ))
        except ArgumentError as exc:
            raise LoginRefused(f"cannot log in to {self.base_url}: {exc}") from None
        for attempt in range(1, self.login_attempts + 1):
            try:
                return await self._login_once(user, password)
            except _Transient as exc:
                if attempt == self.login_attempts:
                    raise LoginRefused(
                        f"cannot log in to {self.base_url} as {user!r} after {attempt} tries: {exc}"
                    ) from None
                logger.warning("Login attempt %d failed (%s); trying again", attempt, exc)
                await asyncio.sleep(_login_backoff(attempt, exc.retry_after))
        raise AssertionError("unreachable")

    async def _login_once(self, user: str, password: str) -> JDPowerSession:
        request = Request(
            f"{self.base_url}/login",
            dont_filter=True,
            meta={
                "playwright": True,
                "playwright_include_page": True,
                "playwright_context": "jdpower-login",
                # the form is filled once it shows (fill waits for it), not once the page's
                # images and stylesheets have been refused
                "playwright_page_goto_kwargs": {"wait_until": "domcontentloaded"},
                "jdpower_login": True,
                "dont_retry": True,
            },
        )
        engine = self.crawler.engine
        assert engine is not None
        try:
            response = await engine.download_async(request)
        except BrowserUnavailable as exc:  # no other try would have a browser either
            raise LoginRefused(f"cannot log in to {self.base_url}: {exc}") from None
        except Exception as exc:
            page = request.meta.get("playwright_page")
            if page is not None:
                await close_context(page)
            raise _Transient(f"the login page: {first_line(exc)}") from None
        page = response.meta["playwright_page"]
        try:
            if response.status != 200:
                raise _Transient(
                    f"the login page answered HTTP {response.status}",
                    retry_after_seconds(response.headers.get("Retry-After")),
                )
            await page.fill("#username", user)
            await page.fill("#password", password)
            async with page.expect_navigation(
                timeout=self.login_timeout_ms, wait_until="domcontentloaded"
            ) as navigation:
                await _click_soon(page, "#sign-in")
            error = await page.query_selector("#login-error")
            if error is not None:
                said = (await error.inner_text()).strip()
                raise LoginRefused(f"the site refused the login of user {user!r}: {said[:200]}")
            answer = await navigation.value
            if answer is not None and answer.status >= 400:
                # an error page where the licence or the inventory should be: it has no
                # "Accept" to wait for (that waited 30 s, every context with it)
                raise _Transient(
                    f"signing in: {urlsplit(answer.url).path} answered HTTP {answer.status}",
                    retry_after_seconds(answer.headers.get("retry-after")),
                )
            if urlsplit(page.url).path.rstrip("/") == "/licence":
                await self._accept_licence(page)
                self.crawler.stats.inc_value("jdpower/licence/accepted")
            if urlsplit(page.url).path.rstrip("/") in ("/login", "/licence"):
                raise _Transient(f"the site kept showing {urlsplit(page.url).path}")
            cookies = await page.context.cookies()
        except LoginRefused:
            raise
        except Exception as exc:  # a 500 page, a timeout, a closed browser: try again
            if isinstance(exc, _Transient):
                raise
            raise _Transient(first_line(exc)) from None
        finally:
            # every request is waiting for this login: the context goes meanwhile
            self.background.spawn(close_context(page))
        if self.session is None and self.crawler.stats.get_value("jdpower/login/ok"):
            self.relogins += 1
            self.crawler.stats.inc_value("jdpower/relogins")
        self.crawler.stats.inc_value("jdpower/login/ok")
        logger.info("Logged in to %s as %r (%d cookies)", self.base_url, user, len(cookies))
        self.session = JDPowerSession(cookies)
        return self.session

    async def _accept_licence(self, page: Any) -> None:
        """Click the licence's "Accept": its JavaScript posts the acceptance, then leaves the page.
        A refused post leaves the page where it is, so that is waited for too (else a 500 there
        cost the whole navigation timeout, 60 s, with every context waiting for the login)."""
        timeout = self.login_timeout_ms
        left = asyncio.ensure_future(page.wait_for_event("framenavigated", timeout=timeout))
        refused = asyncio.ensure_future(
            page.wait_for_event(
                "response",
                predicate=lambda r: r.request.method != "GET" and r.status >= 400,
                timeout=timeout,
            )
        )
        try:
            await _click_soon(page, "#accept")
            done, _ = await asyncio.wait({left, refused}, return_when=asyncio.FIRST_COMPLETED)
            if refused in done and refused.exception() is None:
                raise _Transient(f"accepting the licence: HTTP {refused.result().status}")
            await left  # a navigation, or its timeout
            await page.wait_for_load_state("domcontentloaded", timeout=timeout)
        finally:
            for waiter in (left, refused):
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(BaseException):
                    await waiter


# Clicks a control through its own handlers, once the call that asks for it has returned.
# Not Playwright's click: its actionability checks wait for animation frames, which a busy
# headless browser delays by up to a second. Nor its dispatch_event: it makes its call again
# when the page it ran in has gone (Frame.retryWithProgressAndTimeouts in Playwright 1.65), so
# a click whose navigation replaced the page before the call's answer came back would look for
# the control on the next page, which has none, for the 30 s of its timeout, every context
# waiting. (Read in Playwright's code, not caught here: the 30 s waits seen were error pages.)
_CLICK_SOON = """(selector) => {
    const control = document.querySelector(selector);
    if (!control) return false;
    setTimeout(() => control.click(), 0);
    return true;
}"""


async def _click_soon(page: Any, selector: str) -> None:
    await page.wait_for_selector(selector, state="attached")
    if not await page.evaluate(_CLICK_SOON, selector):
        raise _Transient(f"no {selector} on {urlsplit(page.url).path}")


def _login_backoff(attempt: int, retry_after: float | None) -> float:
    """Seconds before login try `attempt` + 1: the site's Retry-After when it gave one (up to a
    minute), else 0.5, 1, 2, 4 s. Every context waits for the login meanwhile: at the long
    bench's 5% error rate one login in four meets an error, and with 2, 4, 6 s waits a crawl
    of 500 vehicles spent 6-13 s of its 60-100 s standing still on them."""
    if retry_after is not None:
        return min(retry_after, 60.0)
    return min(0.5 * 2 ** (attempt - 1), 10.0)
