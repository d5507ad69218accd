"""Pace requests, and find the highest rate a site accepts when it answers 429.

Why not Scrapy's own: RetryMiddleware retries a 429 at once, ignoring `Retry-After`, and gives
the request up after RETRY_TIMES; AutoThrottle only follows latency, and a rate limiter answers
fast, so AutoThrottle never slows down for it (Scrapy issues #6837, #6458; measured here: 1,169
retries and 120 pins lost at 64 at once against a 150/s limit). AutoThrottle also rewrites the
slot's delay on every response, so the two cannot share the slot. This middleware replaces both
for rate limits, per download slot:

- pacing: delay = latency / THROTTLE_TARGET_CONCURRENCY, which spreads the requests evenly over
  the latency instead of bursts (what AutoThrottle did for us; the target is above the
  concurrency, so pacing alone never limits throughput);
- a rate cap after a 429: just under the rate the site accepted (2xx, 3xx, 404) over the last
  two seconds, which is the site's real limit, cut at most once a second so that a volley of
  429s from one burst counts once;
- probing: without a refusal the cap rises per second, THROTTLE_FAST_PROBE while the limit is
  unknown (a crawl's first refusal comes before there is a full window to measure) or untested
  for THROTTLE_FAST_AFTER seconds, THROTTLE_PROBE near a measured limit: the highest rate the
  site accepts is found, and found again when the site relents;
- the refused request waits `Retry-After` (seconds or an HTTP date, at most THROTTLE_MAX_WAIT)
  and is scheduled again, up to THROTTLE_MAX_RETRIES times, apart from the retries for errors;
- a site's own words for "slow down" count as a refusal too: a request whose meta names a check
  (`slow_down_check`, a name in crawler.sites.SLOW_DOWN_CHECKS: Bilibili's risk-control codes
  and its HTTP 412) is refused when the check says so;
- rate-limit headers (`X-Ratelimit-Remaining` / `X-Ratelimit-Reset`, Reddit's): when the rate
  of the last two seconds would use up what remains before the window resets, the slot is
  paced to spread what remains over the rest of the window, as prawcore does; with nothing
  left, the slot waits for the reset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

from crawler.sites import SLOW_DOWN_CHECKS

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

_WINDOW = 2.0  # seconds of accepted responses that estimate the site's rate


@dataclass
class _SlotState:
    latency: float | None = None  # moving average of download latency, seconds
    cap: float | None = None  # requests/s allowed since a refusal; None: no limit seen
    accepted: deque[float] = field(default_factory=deque)
    first_seen: float | None = None  # first accepted response: how much history the estimate has
    last_cut: float = 0.0
    last_probe: float = 0.0
    fast: bool = True  # probing fast until a cut is based on a full window of history
    quota_pace: float = 0.0  # seconds between requests the site's rate-limit headers ask for


def _number(value: bytes | str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value.decode() if isinstance(value, bytes) else value)
    except (UnicodeDecodeError, ValueError):
        return None


def retry_after_seconds(value: bytes | str | None, now: datetime | None = None) -> float | None:
    """`Retry-After: 3` or `Retry-After: Wed, 21 Oct 2026 07:28:00 GMT` -> seconds to wait."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ThrottleMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("THROTTLE_ENABLED", True):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.codes = {int(c) for c in settings.getlist("THROTTLE_HTTP_CODES", [429])}
        self.target = settings.getfloat("THROTTLE_TARGET_CONCURRENCY") or settings.getfloat(
            "CONCURRENT_REQUESTS_PER_DOMAIN"
        )
        self.backoff = settings.getfloat("THROTTLE_BACKOFF", 0.9)
        self.probe = settings.getfloat("THROTTLE_PROBE", 1.02)
        self.fast_probe = settings.getfloat("THROTTLE_FAST_PROBE", 1.1)
        self.fast_after = settings.getfloat("THROTTLE_FAST_AFTER", 10.0)
        self.min_rate = settings.getfloat("THROTTLE_MIN_RATE", 0.2)
        self.max_wait = settings.getfloat("THROTTLE_MAX_WAIT", 60.0)
        self.max_retries = settings.getint("THROTTLE_MAX_RETRIES", 10)
        self.min_delay = settings.getfloat("DOWNLOAD_DELAY")
        self.max_delay = settings.getfloat("THROTTLE_MAX_DELAY", 30.0)
        self.states: dict[str, _SlotState] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ThrottleMiddleware:
        return cls(crawler)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        key = request.meta.get("download_slot")
        if key is None:
            return response
        state = self.states.setdefault(key, _SlotState())
        now = time.monotonic()
        if response.status in self.codes:
            return await self._refused(request, response, key, state, now)
        check = request.meta.get("slow_down_check")
        if check is not None:
            said = SLOW_DOWN_CHECKS[check](response.status, response.body)
            if said is not None:
                self.stats.inc_value("throttle/slow_down")
                logger.debug("%s asks to slow down: %s", key, said)
                return await self._refused(request, response, key, state, now)
        self._quota(response, state, now)
        if 200 <= response.status < 400 or response.status == 404:
            state.accepted.append(now)
            if state.first_seen is None:
                state.first_seen = now
        latency = request.meta.get("download_latency")
        if latency is not None and response.status < 400:
            state.latency = latency if state.latency is None else 0.8 * state.latency + 0.2 * latency
        if state.cap is not None and now - state.last_probe >= 1.0:
            # slow start, as TCP: fast while the limit is unknown or long untested, then gently
            if now - state.last_cut >= self.fast_after:
                state.fast = True
            state.cap *= self.fast_probe if state.fast else self.probe
            state.last_probe = now
            self.stats.max_value("throttle/cap_max", round(state.cap, 2))
        self._apply(key, state, now)
        return response

    async def _refused(
        self, request: Request, response: Response, key: str, state: _SlotState, now: float
    ) -> Request | Response:
        self.stats.inc_value("throttle/refused")
        if now - state.last_cut >= 1.0:
            self._trim(state, now)
            accepted = len(state.accepted) / _WINDOW
            base = accepted if accepted > 0 else (state.cap or self._current_rate(key)) * 0.5
            state.cap = max(self.min_rate, base * self.backoff)
            # a full window of history: the estimate is the site's rate, probe gently from here;
            # less (the first refusal of a crawl): it underestimates, keep probing fast
            state.fast = state.first_seen is None or now - state.first_seen < _WINDOW
            state.last_cut = state.last_probe = now
            self.stats.inc_value("throttle/cuts")
            logger.info("%s refused with %d: slowing to %.1f requests/s", key, response.status, state.cap)
        self._apply(key, state, now)
        tries = request.meta.get("throttle_retries", 0) + 1
        if tries > self.max_retries:
            self.stats.inc_value("throttle/gave_up")
            return response  # an HTTP error for the spider's errback
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait:
            waited = (self.stats.get_value("throttle/waited_s") or 0) + min(wait, self.max_wait)
            self.stats.set_value("throttle/waited_s", round(waited, 3))
            await asyncio.sleep(min(wait, self.max_wait))
        retry = request.replace(dont_filter=True, priority=request.priority + 1)
        retry.meta["throttle_retries"] = tries
        return retry

    def _quota(self, response: Response, state: _SlotState, now: float) -> None:
        remaining = _number(response.headers.get("X-Ratelimit-Remaining"))
        reset = _number(response.headers.get("X-Ratelimit-Reset"))
        if remaining is None or reset is None:
            return
        self._trim(state, now)
        rate = len(state.accepted) / _WINDOW
        if remaining < 1:
            state.quota_pace = reset + 1.0  # nothing left: the next request after the reset
        elif rate * reset > remaining:
            state.quota_pace = reset / remaining  # what remains, spread over the window's rest
        else:
            state.quota_pace = 0.0
        if state.quota_pace:
            self.stats.inc_value("throttle/quota_paced")

    def _trim(self, state: _SlotState, now: float) -> None:
        while state.accepted and now - state.accepted[0] > _WINDOW:
            state.accepted.popleft()

    def _current_rate(self, key: str) -> float:
        slot = self._slot(key)
        delay = getattr(slot, "delay", 0.0) or 0.0
        return 1 / delay if delay > 0 else 10.0

    def _slot(self, key: str):  # type: ignore[no-untyped-def]
        engine = self.crawler.engine
        return engine.downloader.slots.get(key) if engine is not None else None

    def _apply(self, key: str, state: _SlotState, now: float) -> None:
        self._trim(state, now)
        slot = self._slot(key)
        if slot is None:
            return
        pace = (state.latency or 0.0) / self.target if self.target else 0.0
        limit = 1.0 / state.cap if state.cap else 0.0
        delay = min(self.max_delay, max(self.min_delay, pace, limit))
        slot.delay = max(delay, min(state.quota_pace, self.max_wait))
