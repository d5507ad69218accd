"""The base of every source's session middleware: a site that wants cookies, a client context or
signed parameters on its requests.

What it owns, once for every source:
- one warm-up at a time: the first request that needs a session makes it (`make_session`), every
  other one waits for that same one; a warm-up that cannot succeed stops the crawl with one
  line, once (finish reason `stop_reason`);
- signing at download time only (`sign`, in process_request, after the scheduler): what it adds
  is taken off again when a request goes back to the scheduler (`request_scheduled`: a retry, a
  redirect), so no session reaches the JOBDIR or a shared queue;
- expiry: a response `expired` says so drops the session it was signed with (the first request to
  notice drops it; later ones signed with the same session do not drop its successor) and the
  request is tried again with a new one, up to `retries_setting` times.

A source says which requests want it (`wants`), how to make a session and sign a request with it,
and how an expired session shows.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from scrapy import Request, signals
from scrapy.exceptions import IgnoreRequest

from crawler.stopping import stop_crawl

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

S = TypeVar("S")
_SIGNED = "_session_signed"  # meta: (the session used, header names added, meta keys added)


class SessionUnavailable(IgnoreRequest):
    """No session can be made: the source's own line says why."""


class SessionMiddleware(Generic[S]):
    site: ClassVar[str] = "the site"  # in log lines
    stop_reason: ClassVar[str] = "session_failed"
    stats_prefix: ClassVar[str] = "session"  # <prefix>/refused (an expiry), <prefix>/failed
    retries_setting: ClassVar[str] = ""  # tries again after an expiry, per request (default 3)

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.max_renewals = crawler.settings.getint(self.retries_setting, 3) if self.retries_setting else 3
        self.session: S | None = None
        self._warming: asyncio.Future[S] | None = None
        self._failure: SessionUnavailable | None = None
        self._retry_key = f"{type(self).__name__}_renewals"
        crawler.signals.connect(self._strip_before_queue, signal=signals.request_scheduled)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Any:
        return cls(crawler)

    # --- what a source says ---
    def wants(self, request: Request) -> bool:
        raise NotImplementedError

    async def make_session(self) -> S:
        """A new session; raise SessionUnavailable when none can be made (said in one line)."""
        raise NotImplementedError

    def sign(self, request: Request, session: S) -> tuple[list[bytes], list[str]]:
        """Add the session to `request`: the header names and meta keys it added."""
        raise NotImplementedError

    def expired(self, request: Request, response: Response) -> bool:
        return False

    def renewals_used_up(self, request: Request, response: Response) -> Request | Response:
        """The session expired again after `max_renewals` new ones: the response as it is."""
        return response

    def dropped(self, request: Request, response: Response) -> None:
        """A response said the session expired (to close what belongs to it, say)."""

    # --- the machinery ---
    async def process_request(self, request: Request) -> None:
        if not self.wants(request):
            return None
        session = self.session if self.session is not None else await self._warm_up()
        headers, meta = self.sign(request, session)
        request.meta[_SIGNED] = (session, headers, meta)
        return None

    def process_response(self, request: Request, response: Response) -> Request | Response:
        signed = request.meta.get(_SIGNED)
        if signed is None or not self.expired(request, response):
            return response
        self.dropped(request, response)
        self.drop(signed[0])
        tries = request.meta.get(self._retry_key, 0) + 1
        if tries > self.max_renewals:
            return self.renewals_used_up(request, response)
        self.crawler.stats.inc_value(f"{self.stats_prefix}/refused")
        retry = request.replace(dont_filter=True)
        retry.meta[self._retry_key] = tries
        self.strip(retry)
        return retry

    def drop(self, session: Any) -> None:
        """`session` is dead: forget it if it is still the current one (the first to notice)."""
        if session is not None and session is self.session:
            logger.info("%s session expired; making a new one", self.site)
            self.session = None

    @staticmethod
    def strip(request: Request) -> None:
        """Take off what `sign` added."""
        signed = request.meta.pop(_SIGNED, None)
        if signed is None:
            return
        _, headers, meta = signed
        for name in headers:
            request.headers.pop(name, None)
        for key in meta:
            request.meta.pop(key, None)

    def _strip_before_queue(self, request: Request, spider: Any = None) -> None:
        self.strip(request)

    async def _warm_up(self) -> S:
        if self._failure is not None:
            raise self._failure
        if self._warming is None:
            self._warming = asyncio.ensure_future(self._make_and_keep())
        warming = self._warming
        try:
            return await asyncio.shield(warming)
        except SessionUnavailable as exc:
            self._give_up(exc)
            raise
        finally:
            if warming.done() and self._warming is warming:
                self._warming = None

    async def _make_and_keep(self) -> S:
        session = await self.make_session()
        self.session = session
        return session

    def _give_up(self, exc: SessionUnavailable) -> None:
        """Without a session no request of this source can work: stop the crawl, once."""
        if self._failure is not None:
            return
        self._failure = exc
        self.crawler.stats.inc_value(f"{self.stats_prefix}/failed")
        logger.error("Cannot start a %s session: %s; stopping the crawl", self.site, exc)
        stop_crawl(self.crawler, self.stop_reason)
