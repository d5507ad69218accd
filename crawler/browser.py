"""Browser policies shared by every spider that opens pages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable
from typing import Any

logger = logging.getLogger(__name__)

BLOCKED_RESOURCE_TYPES = frozenset({"image", "stylesheet", "font", "media"})


class BrowserUnavailable(Exception):
    """The browser cannot be used in this crawl (Playwright's driver did not start): pages fail
    at once with the reason, instead of each trying again."""


def first_line(exc: BaseException, limit: int = 200) -> str:
    """What went wrong, in one line: Playwright's errors carry their call log under the first."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


def abort_heavy_request(playwright_request: Any) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST: pages need their HTML and scripts, not their pictures."""
    return playwright_request.resource_type in BLOCKED_RESOURCE_TYPES


async def request_headers(
    *, browser_type_name: str, playwright_request: Any, scrapy_request_data: dict[str, Any]
) -> dict[str, str]:
    """PLAYWRIGHT_PROCESS_REQUEST_HEADERS: scrapy-playwright's default (the Scrapy request's
    headers on every navigation), except that a page's own form post keeps its body's type.

    The default replaces the headers of every navigation with those of the Scrapy request that
    opened the page, Content-Type included, so a login form the page posts arrives with a body
    and no type, and the site reads no fields."""
    from scrapy_playwright.headers import use_scrapy_headers

    headers = await use_scrapy_headers(
        browser_type_name=browser_type_name,
        playwright_request=playwright_request,
        scrapy_request_data=scrapy_request_data,
    )
    if playwright_request.post_data_buffer and playwright_request.is_navigation_request():
        own = await playwright_request.all_headers()
        if "content-type" in own:
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            headers["content-type"] = own["content-type"]
    return headers


async def close_page(page: Any, timeout_s: float = 10.0) -> None:
    """Close a page a callback kept (`playwright_include_page`), whatever state it is in.

    Chromium never answers Playwright's close for a page whose navigation is still under way
    when it is asked (seen here: a report link answered 500 and the page closed at once), and
    `page.close()` waits forever: the page keeps its place among the context's
    PLAYWRIGHT_MAX_PAGES_PER_CONTEXT, and once every place is taken the crawl stands still.
    After `timeout_s` the page's whole context is closed instead (that always answers);
    scrapy-playwright makes it anew for the next request that names it."""
    try:
        await asyncio.wait_for(page.close(), timeout_s)
    except TimeoutError:
        logger.warning("A browser page did not close in %.0f s; closing its context", timeout_s)
        await close_context(page, timeout_s)
    except Exception:  # closed already, or the browser went away: nothing left to close
        pass


async def close_context(page: Any, timeout_s: float = 10.0) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(page.context.close(), timeout_s)


class Background:
    """Fire-and-forget coroutines that cannot vanish half-way.

    The event loop holds only a weak reference to a task: one kept nowhere else can be
    garbage-collected before it ends (asyncio's documentation says so for `create_task`)."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


class PagePool:
    """Loaded pages a spider is done with, kept per browser context for that context's next
    request (`meta["reuse_page"]`, see crawler.middlewares.page_pool), one pool per crawler.

    A new page costs a renderer process: in Chromium each new page of a context starts one,
    and closing the page ends it. Navigating a page the context already has to the next page
    of the same site keeps its renderer: 33 ms of CPU a page instead of 72 (bench of 40 pages,
    every browser process counted), and the five contexts of jdpower no longer start and end
    a process with every vehicle."""

    _pools: weakref.WeakKeyDictionary[Any, PagePool] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self.free: dict[str, list[Any]] = {}

    @classmethod
    def of(cls, crawler: Any) -> PagePool:
        pool = cls._pools.get(crawler)
        if pool is None:
            pool = cls._pools[crawler] = cls()
        return pool

    def put(self, page: Any, context: str) -> None:
        """`page` (of browser context `context`) is free for the context's next request."""
        if not page.is_closed():
            self.free.setdefault(context, []).append(page)

    def take(self, context: str) -> Any | None:
        """A free page of `context` still open, taken out of the pool; None when there is none."""
        pages = self.free.get(context)
        while pages:
            page = pages.pop()
            if not page.is_closed():
                return page
        return None

    def forget(self, context: str) -> None:
        """`context` is being closed: its free pages go with it."""
        self.free.pop(context, None)
