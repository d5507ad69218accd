"""Browser policies shared by every spider that opens pages."""

from __future__ import annotations

from typing import Any

BLOCKED_RESOURCE_TYPES = frozenset({"image", "stylesheet", "font", "media"})


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
