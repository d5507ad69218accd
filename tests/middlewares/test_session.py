"""The session base (crawler/middlewares/session.py) on its own, with a made-up source: one
warm-up for every waiting request, signatures only while downloading, expiry, giving up once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from scrapy import Request, signals
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from crawler.middlewares.session import SessionMiddleware, SessionUnavailable
from tests.conftest import in_reactor


class Token:
    def __init__(self, value: str) -> None:
        self.value = value


class TokenSession(SessionMiddleware[Token]):
    site = "Example"
    stop_reason = "example_session_failed"
    stats_prefix = "example/session"

    def __init__(self, crawler: Any, *, fail: bool = False) -> None:
        super().__init__(crawler)
        self.made = 0
        self.fail = fail

    def wants(self, request: Request) -> bool:
        return bool(request.meta.get("example"))

    async def make_session(self) -> Token:
        self.made += 1
        await asyncio.sleep(0.05)  # every request arriving meanwhile waits for this one
        if self.fail:
            raise SessionUnavailable("https://example.com/ answered HTTP 503")
        return Token(f"t{self.made}")

    def sign(self, request: Request, session: Token) -> tuple[list[bytes], list[str]]:
        request.headers["X-Token"] = session.value
        request.meta["example_signed_at"] = "download"
        return [b"X-Token"], ["example_signed_at"]

    def expired(self, request: Request, response: Response) -> bool:
        return response.status == 401


class Engine:
    def __init__(self) -> None:
        self.closed: list[str] = []

    def unpause(self) -> None:
        pass

    async def close_spider_async(self, *, reason: str) -> None:
        self.closed.append(reason)


def _middleware(**kwargs: Any) -> tuple[TokenSession, Engine, Any]:
    crawler = get_crawler()
    crawler.stats.open_spider()
    engine = Engine()
    crawler.engine = engine  # type: ignore[assignment]
    return TokenSession(crawler, **kwargs), engine, crawler


@in_reactor
async def test_one_warm_up_for_every_request_waiting_and_signatures_only_while_downloading() -> None:
    mw, _, crawler = _middleware()
    requests = [Request(f"https://example.com/{i}", meta={"example": True}) for i in range(10)]
    await asyncio.gather(*(mw.process_request(r) for r in requests))
    assert mw.made == 1 and {r.headers["X-Token"] for r in requests} == {b"t1"}
    plain = Request("https://other.example/")
    await mw.process_request(plain)
    assert b"X-Token" not in plain.headers  # not the source's
    # back to the scheduler (a retry, a redirect): nothing of the session goes with it
    crawler.signals.send_catch_log(signals.request_scheduled, request=requests[0], spider=None)
    assert b"X-Token" not in requests[0].headers and "example_signed_at" not in requests[0].meta


@in_reactor
async def test_an_expired_session_is_dropped_by_the_first_to_notice_and_the_request_tried_again() -> None:
    mw, _, crawler = _middleware()
    first, second = (Request(f"https://example.com/{i}", meta={"example": True}) for i in range(2))
    await mw.process_request(first)
    await mw.process_request(second)
    retry = mw.process_response(first, Response(first.url, status=401, request=first))
    assert isinstance(retry, Request) and b"X-Token" not in retry.headers and retry.dont_filter
    assert mw.session is None
    await mw.process_request(retry)
    assert retry.headers["X-Token"] == b"t2"
    # the second, signed with the dead session too, does not drop its successor
    assert isinstance(mw.process_response(second, Response(second.url, status=401, request=second)), Request)
    assert mw.session is not None and mw.session.value == "t2"
    assert crawler.stats.get_value("example/session/refused") == 2
    # a session that keeps expiring: after max_renewals, the response as it is
    request: Any = retry  # one renewal used
    for _ in range(mw.max_renewals - 1):
        await mw.process_request(request)
        request = mw.process_response(request, Response(request.url, status=401, request=request))
        assert isinstance(request, Request)
    await mw.process_request(request)
    last = Response(request.url, status=401, request=request)
    assert mw.process_response(request, last) is last


@in_reactor
async def test_no_session_stops_the_crawl_once_with_one_line(caplog: pytest.LogCaptureFixture) -> None:
    mw, engine, crawler = _middleware(fail=True)
    caplog.set_level(logging.ERROR)
    requests = [Request(f"https://example.com/{i}", meta={"example": True}) for i in range(5)]
    outcomes = await asyncio.gather(*(mw.process_request(r) for r in requests), return_exceptions=True)
    assert all(isinstance(o, SessionUnavailable) for o in outcomes)
    with pytest.raises(SessionUnavailable):
        await mw.process_request(Request("https://example.com/late", meta={"example": True}))
    await asyncio.sleep(0)
    assert mw.made == 1  # no new try for each request
    assert engine.closed == ["example_session_failed"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        "Cannot start a Example session: https://example.com/ answered HTTP 503; stopping the crawl"
    ]
    assert crawler.stats.get_value("example/session/failed") == 1
