from __future__ import annotations

from scrapy import Request
from scrapy.utils.test import get_crawler

from crawler.browser import PagePool
from crawler.middlewares.page_pool import PagePoolMiddleware


class FakePage:
    def __init__(self) -> None:
        self.closed = False

    def is_closed(self) -> bool:
        return self.closed


def _request(context: str, **meta: object) -> Request:
    return Request(
        "https://example.com/vehicle/1",
        meta={"playwright": True, "playwright_context": context, "reuse_page": True, **meta},
    )


def test_a_request_opens_in_a_free_page_of_its_own_context_only() -> None:
    crawler = get_crawler()
    middleware = PagePoolMiddleware.from_crawler(crawler)
    pool = PagePool.of(crawler)
    assert middleware.pool is pool  # one pool per crawler, shared with the spider
    page = FakePage()
    pool.put(page, "jdpower-0")

    other = _request("jdpower-1")
    middleware.process_request(other)
    assert "playwright_page" not in other.meta  # another context's page never

    mine = _request("jdpower-0")
    middleware.process_request(mine)
    assert mine.meta["playwright_page"] is page
    again = _request("jdpower-0")
    middleware.process_request(again)
    assert "playwright_page" not in again.meta  # taken: a page serves one request at a time


def test_closed_pages_and_forgotten_contexts_are_never_handed_out() -> None:
    pool = PagePool()
    closed, open_ = FakePage(), FakePage()
    pool.put(open_, "c")
    pool.put(closed, "c")
    closed.closed = True
    assert pool.take("c") is open_
    assert pool.take("c") is None
    pool.put(FakePage(), "c")
    pool.forget("c")  # its context is being closed
    assert pool.take("c") is None


def test_requests_that_do_not_ask_keep_their_new_page() -> None:
    crawler = get_crawler()
    middleware = PagePoolMiddleware.from_crawler(crawler)
    PagePool.of(crawler).put(FakePage(), "c")
    for request in (
        _request("c", reuse_page=False),
        Request("https://example.com/", meta={"reuse_page": True}),
    ):
        middleware.process_request(request)
        assert "playwright_page" not in request.meta
