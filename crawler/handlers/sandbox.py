"""Send every download to the sandbox while the rest of Scrapy keeps the real URLs.

Installed by `crawler.addons.SandboxAddon` when SANDBOX_URL is set. Rewriting happens at the last
moment, in the download handler: the scheduler, dupefilter, cookies, spiders, items and the
database all see `https://www.pinterest.com/...`, and only the bytes come from 127.0.0.1. The
original host travels in `X-Forwarded-Host`, which the sandbox routes on.

Browser pages are covered too: scrapy-playwright passes every request of a page through its own
route handler, which ends in `route.continue_()`, straight to the network. We wrap that handler
so that, in its place, the request is fetched from the sandbox and the page is fulfilled with
the answer (redirects not followed, so the page sees them and navigates, routed again).
`_make_request_handler` is private API of scrapy-playwright (pinned in requirements.txt);
tests/test_browser.py fails if it changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.exceptions import NotConfigured

from crawler.handlers.http import AsyncioHTTPDownloadHandler

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

# meta keys the HTTP handler sets on the request it downloads, copied back to the real one
_META_BACK = ("download_latency",)


def sandbox_target(url: str, base: str) -> tuple[str, str] | None:
    """(sandbox URL, original host) for an http(s) URL, None for other schemes."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    target = base + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return target, parts.hostname


class _SandboxMixin:
    sandbox_base: str

    def _init_sandbox(self, crawler: Crawler) -> None:
        base = crawler.settings.get("SANDBOX_URL")
        if not base:
            raise NotConfigured("SANDBOX_URL is not set")
        self.sandbox_base = base.rstrip("/")

    async def _download_via_sandbox(self, request: Request, download: Any) -> Response:
        target = sandbox_target(request.url, self.sandbox_base)
        if target is None:
            return await download(request)
        url, host = target
        proxied = request.replace(url=url)
        proxied.headers["X-Forwarded-Host"] = host
        response = await download(proxied)
        for key in _META_BACK:
            if key in proxied.meta:
                request.meta[key] = proxied.meta[key]
        return response.replace(url=request.url, request=request)


class SandboxHTTPDownloadHandler(_SandboxMixin, HTTP11DownloadHandler):
    """Plain HTTP(S) downloads through Scrapy's Twisted client (HTTP_CLIENT=twisted), sent to
    the sandbox by rewriting the URL."""

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._init_sandbox(crawler)

    async def download_request(self, request: Request) -> Response:
        return await self._download_via_sandbox(request, super().download_request)


class SandboxAsyncioHTTPDownloadHandler(AsyncioHTTPDownloadHandler):
    """Plain HTTP(S) downloads through this project's asyncio client, connected to the sandbox.

    No URL rewriting and no copies: the request goes out with its real path and Host header on
    a connection to the sandbox, which routes on Host, and the response keeps the real URL.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        base = crawler.settings.get("SANDBOX_URL")
        if not base:
            raise NotConfigured("SANDBOX_URL is not set")
        parts = urlsplit(base)
        if parts.scheme != "http" or not parts.hostname:
            raise NotConfigured(f"SANDBOX_URL {base!r} is not an http://host:port URL")
        self._sandbox = ("http", parts.hostname, parts.port or 80)

    def connect_to(self, scheme: str, host: str, port: int) -> tuple[str, str, int]:
        return self._sandbox


try:
    from crawler.handlers.browser import BrowserDownloadHandler
except ImportError:  # pragma: no cover - scrapy-playwright is in requirements.txt
    BrowserDownloadHandler = None  # type: ignore[assignment,misc]


if BrowserDownloadHandler is not None:

    class SandboxPlaywrightDownloadHandler(_SandboxMixin, BrowserDownloadHandler):
        """scrapy-playwright's handler, with plain and browser downloads sent to the sandbox."""

        def __init__(self, crawler: Crawler) -> None:
            super().__init__(crawler)
            self._init_sandbox(crawler)

        @staticmethod
        def _make_http_handler(crawler: Crawler) -> Any:
            if crawler.settings.get("HTTP_CLIENT", "asyncio") == "twisted":
                return None
            return SandboxAsyncioHTTPDownloadHandler(crawler)

        async def download_request(self, request: Request) -> Response:
            # browser pages are routed inside the page (see _make_request_handler); the asyncio
            # client connects to the sandbox itself; Twisted's needs the URL rewritten
            if request.meta.get("playwright") or self._http is not None:
                return await super().download_request(request)
            return await self._download_via_sandbox(request, super().download_request)

        def _make_request_handler(self, *args: Any, **kwargs: Any) -> Any:
            inner = super()._make_request_handler(*args, **kwargs)
            base = self.sandbox_base

            async def handler(route: Any, playwright_request: Any) -> None:
                await inner(_SandboxRoute(route, playwright_request, base), playwright_request)

            return handler

    class _SandboxRoute:
        """Stands in for a Playwright Route: `continue_` fetches from the sandbox instead."""

        def __init__(self, route: Any, playwright_request: Any, base: str) -> None:
            self._route = route
            self._request = playwright_request
            self._base = base

        async def abort(self, *args: Any, **kwargs: Any) -> None:
            await self._route.abort(*args, **kwargs)

        async def continue_(self, **overrides: Any) -> None:
            target = sandbox_target(self._request.url, self._base)
            if target is None:
                await self._route.continue_(**overrides)
                return
            url, host = target
            headers = dict(overrides.get("headers") or await self._request.all_headers())
            headers = {k: v for k, v in headers.items() if k.lower() != "host"}
            headers["x-forwarded-host"] = host
            try:
                response = await self._route.fetch(
                    url=url,
                    method=overrides.get("method"),
                    headers=headers,
                    # a form the page posts: its body is the request's own, not an override
                    post_data=overrides.get("post_data") or self._request.post_data_buffer,
                    max_redirects=0,
                )
            except Exception:
                # the sandbox is down: the page fails as it would on a refused connection
                await self._route.abort("connectionrefused")
                return
            await self._route.fulfill(response=response)
