"""`scrapy crawl jdpower`: every vehicle's report PDF from the J.D. Power portal, several browser
contexts at once, each vehicle once.

    JD_USER=... JD_PASS=... scrapy crawl jdpower [-a max_downloads=N] [-s CONCURRENT_CONTEXTS=5]

The login (and the licence) is JDPowerSessionMiddleware's: once, shared by every context. The
inventory comes from the portal's JSON API (the call its page makes) with the same session.
Each vehicle's page opens in one of CONCURRENT_CONTEXTS browser contexts, its "Download PDF"
button is clicked, and the report the page then asks for is taken from that request (the
page's own cookies and headers) and checked (`%PDF`, `%%EOF`, the size announced) before it
is saved as `<output>/<day>/run-<N>/<reference>.pdf`. The `vehicles` table says what
is done: a done vehicle is never downloaded again, and `claim` lets only one context or run
take a vehicle. Two retries per vehicle, on a fresh page; a context that fails
JDPOWER_CONTEXT_FAILURES times in a row is closed and made anew; a dead browser is relaunched
by scrapy-playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import socket
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import CloseSpider
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.browser import Background, PagePool, close_context, close_page, first_line
from crawler.components import add_components
from crawler.db import make_engine
from crawler.db.vehicles import (
    SeenVehicle,
    claim,
    done_refs,
    mark_done,
    mark_failed,
    record_seen,
    release_claims,
    release_dead_claims,
)
from crawler.items import VehicleReport
from crawler.middlewares.jdpower_session import SESSION_EXPIRED, SESSION_META
from crawler.params import JDPowerParams
from crawler.parsers import MalformedResponse
from crawler.parsers.jdpower import InventoryVehicle, parse_inventory_page, pdf_problem, report_filename
from crawler.runs import new_run_dir
from crawler.storage import DiskFull, stop_for_full_disk, write_whole


class SessionExpired(Exception):
    """The page landed on the login form: the shared session died meanwhile."""


class ReportFailed(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status the site answered, when that was the failure


TURN = "jdpower_turn"  # meta: this request holds its worker's turn (see _next)
WORKER = "jdpower_worker"  # meta: the worker (0..CONCURRENT_CONTEXTS-1) whose context it uses
RUN = "jdpower_run"  # meta: the run that made the request (its claimer)
OPENED = "jdpower_opened"  # meta: when its worker asked for the page (time.monotonic)
# meta of one try, not carried to the next (retry_times is: it counts the vehicle's tries)
_THIS_TRY = ("playwright_page", "download_latency", "redirect_times", "redirect_urls", "redirect_reasons")


class JDPowerSpider(scrapy.Spider):
    name = "jdpower"
    custom_settings = {
        "BROWSER_ENABLED": True,
        "CONCURRENCY_ONE_SITE": True,
        # a context is a worker: one report at a time, the next vehicle's page loading meanwhile
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 2,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 60_000,
        "META_COPY_WARN_SKIP_KEYS": ["retry_times"],  # a vehicle's tries, counted on purpose
    }

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        add_components(
            settings,
            "DOWNLOADER_MIDDLEWARES",
            {
                "crawler.middlewares.page_pool.PagePoolMiddleware": 530,
                "crawler.middlewares.jdpower_session.JDPowerSessionMiddleware": 540,
                # Its own pacing for now: one report per worker at a time, and the portal's
                # 5xx/429 tried again in place (JDPOWER_HTTP_RETRIES); it joins the shared
                # throttle when it moves onto the shared parts (its figures measured again then)
                "crawler.middlewares.throttle.ThrottleMiddleware": None,
            },
        )
        # the vehicles table is written as each report is saved, not through the writer (yet)
        add_components(
            settings, "ITEM_PIPELINES", {"crawler.pipelines.database.DatabaseWriterPipeline": None}
        )
        contexts = max(1, settings.getint("CONCURRENT_CONTEXTS", 5))
        # a context per worker, and its next one while it is made anew; the login's
        settings.set("PLAYWRIGHT_MAX_CONTEXTS", 2 * contexts + 1, priority="spider")
        # two pages per context (a report, the next page), the login, the inventory calls
        settings.set("CONCURRENT_REQUESTS", 2 * contexts + 2, priority="spider")
        settings.set("CONCURRENT_REQUESTS_PER_DOMAIN", 2 * contexts + 2, priority="spider")

    @classmethod
    def check_arguments(cls, **kwargs: Any) -> None:
        JDPowerParams.parse(**kwargs)
        from crawler.params import jdpower_credentials

        jdpower_credentials(dict(os.environ))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        params = {k: kwargs.pop(k) for k in list(kwargs) if k == "max_downloads"}
        super().__init__(*args, **kwargs)
        self.params = JDPowerParams.parse(**params)

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> JDPowerSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._closed, signal=signals.spider_closed)
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        settings = self.settings
        self.base_url = settings.get("JDPOWER_BASE_URL").rstrip("/")
        self.contexts = max(1, settings.getint("CONCURRENT_CONTEXTS", 5))
        self.retries = settings.getint("JDPOWER_RETRIES", 2)
        self.http_retries = settings.getint("JDPOWER_HTTP_RETRIES", 2)
        # the statuses Scrapy's RetryMiddleware retries, and a rate limit's
        self.passing_statuses = {int(code) for code in settings.getlist("RETRY_HTTP_CODES")} | {429}
        self.pdf_timeout_ms = settings.getfloat("JDPOWER_PDF_TIMEOUT", 120) * 1000
        self.context_failures_limit = settings.getint("JDPOWER_CONTEXT_FAILURES", 3)
        self.engine_db = await asyncio.to_thread(make_engine, settings.get("DATABASE_URL"))
        self.run_dir: Path | None = None  # made once logged in: a refused login saves nothing
        self.run_name = ""
        self.claimer = f"{socket.gethostname()}:{os.getpid()}:{time.time():.0f}"
        released = await asyncio.to_thread(release_dead_claims, self.engine_db, socket.gethostname(), _alive)
        if released:
            self.logger.info("%d vehicles claimed by a run that died go back to pending", released)
        self.started = time.monotonic()
        self.scheduled = self.succeeded = self.failed_count = self.skipped_done = 0
        self.inventory_total = 0
        self.vehicle_seconds = 0.0
        self.context_failures: dict[str, int] = {}
        self.background = Background()
        # The workers: one report at a time per context (`report_locks`), and while it is made
        # the context already opens the next vehicle's page (two pages per context), so page
        # loads never wait in line behind the reports: a page costs 0.3-0.8 s of a 2.5 s
        # vehicle when five contexts load theirs at once.
        self.pending: deque[InventoryVehicle | scrapy.Request] = deque()
        self.queued_refs: set[str] = set()
        self.idle = list(reversed(range(self.contexts)))  # workers waiting for a vehicle
        self.report_locks = [asyncio.Lock() for _ in range(self.contexts)]
        # Each worker's context is made anew every JDPOWER_CONTEXT_VEHICLES vehicles: what a
        # context gathers (in Chromium and in Playwright's driver) goes with it, so memory
        # stays flat over an 8-hour run. The next vehicle opens in the new context while the
        # old one finishes its last report; the old one is closed with that report's page.
        self.recycle_after = settings.getint("JDPOWER_CONTEXT_VEHICLES", 50)
        self.generation = [0] * self.contexts
        self.served: dict[str, int] = {}
        self.retired: set[str] = set()
        self.active_refs: set[str] = set()  # vehicles a callback of this run is working on
        # the next vehicle's page opens this long after a report is under way (see _pass_turn)
        self.next_page_delay = max(0.0, settings.getfloat("JDPOWER_NEXT_PAGE_DELAY", 0.5))
        # how long reports take (click to PDF) and pages (asked for to their callback), averaged
        self.report_seconds: float | None = None
        self.page_seconds: float | None = None
        self.turn_timers: dict[int, asyncio.TimerHandle] = {}  # id(request): its delayed _pass_turn
        # a vehicle's page, once its report is saved, opens the worker's vehicle after next
        self.pages = PagePool.of(self.crawler)
        self.page_vehicles = max(1, settings.getint("JDPOWER_PAGE_VEHICLES", 1))
        self.page_uses: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        yield self._inventory_request(1)

    # --- the inventory ---
    def _inventory_request(self, page: int) -> scrapy.Request:
        return scrapy.Request(
            f"{self.base_url}/api/inventory?page={page}",
            callback=self.parse_inventory,
            meta={"jdpower": True, "inventory_page": page},
            headers={"Accept": "application/json"},
            # read again by every run, a resumed one too: the database says what is left
            dont_filter=True,
        )

    async def parse_inventory(self, response: Response) -> AsyncIterator[scrapy.Request]:
        try:
            page = parse_inventory_page(response.body)
        except MalformedResponse as exc:
            self.logger.warning("Inventory page %s unreadable: %s", response.meta["inventory_page"], exc)
            assert response.request is not None
            retry = get_retry_request(response.request, spider=self, reason="malformed_inventory")
            if retry is not None:
                yield retry
            return
        if self.run_dir is None:
            self.run_dir = await asyncio.to_thread(new_run_dir, Path(self.settings.get("JDPOWER_OUTPUT_DIR")))
            self.run_name = f"{self.run_dir.parent.name}/{self.run_dir.name}"
            self.logger.info("Saving reports to %s", self.run_dir)
        if page.page == 1:
            self.inventory_total = page.total
            self.crawler.stats.set_value("jdpower/inventory_total", page.total)
            for number in range(2, page.pages + 1):
                yield self._inventory_request(number)
        seen = [SeenVehicle(v.ref, v.description, v.vin) for v in page.vehicles]
        await asyncio.to_thread(record_seen, self.engine_db, seen)
        done = await asyncio.to_thread(done_refs, self.engine_db, [v.ref for v in page.vehicles])
        for vehicle in page.vehicles:
            if vehicle.ref in done:
                self.skipped_done += 1
                self.crawler.stats.inc_value("jdpower/skipped_already_downloaded")
                continue
            if vehicle.ref in self.queued_refs:
                continue
            if self.params.max_downloads is not None and self.scheduled >= self.params.max_downloads:
                continue
            self.scheduled += 1
            self.queued_refs.add(vehicle.ref)
            self.pending.append(vehicle)
            self.crawler.stats.set_value("progress/total", self.scheduled)
        for request in self._wake():
            yield request

    # --- the workers ---
    # Each context is a worker that holds one "turn" (meta[TURN]): the request holding it opens
    # its vehicle's page, and once that vehicle's report is under way the turn passes to the
    # next vehicle of `pending`, whose page then loads in the same context meanwhile. A try that
    # fails before passing its turn on is retried with it; one that fails after goes back to
    # the front of `pending` for whichever worker comes next. So a context never has more than
    # two pages to open, and no turn is lost or doubled, whatever fails.
    def _next(self, worker: int) -> Iterator[scrapy.Request]:
        """The turn of `worker`: its next vehicle, or it waits among the idle ones."""
        if not self.crawler.crawling:  # stopping (Ctrl+C): what is left stays pending in the database
            return
        if not self.pending:
            if worker not in self.idle:
                self.idle.append(worker)
            return
        yield self._dispatch(self.pending.popleft(), worker)

    def _context(self, worker: int) -> str:
        generation = self.generation[worker]
        return f"jdpower-{worker}" if not generation else f"jdpower-{worker}.{generation}"

    def _wake(self) -> Iterator[scrapy.Request]:
        """Idle workers take up what `pending` now holds."""
        while self.idle and self.pending and self.crawler.crawling:
            yield self._dispatch(self.pending.popleft(), self.idle.pop())

    def _dispatch(self, item: InventoryVehicle | scrapy.Request, worker: int) -> scrapy.Request:
        if isinstance(item, scrapy.Request):  # a vehicle to try again
            item.meta.update({"playwright_context": self._context(worker), WORKER: worker, TURN: True})
        else:
            item = self._vehicle_request(item, worker)
        item.meta[OPENED] = time.monotonic()
        return item

    def _pass_turn_soon(self, request: scrapy.Request) -> None:
        """`request`'s report is under way: its worker opens the next vehicle's page meanwhile,
        JDPOWER_NEXT_PAGE_DELAY (0.5 s) later when the reports leave time for it (_page_delay).

        Not at once: the workers keep in step (their reports take the same time), so when one
        report is under way the other contexts are still loading their pages or clicking, and
        on 2 cores a page opened then held them back: the last of the five first clicks came
        0.18 s after the first, against 0.03 s with the delay, and 40 vehicles took 18.9 s
        instead of 18.5 s (medians of 3 runs, bench/jdpower.py's sandbox). Nor before the
        report is under way: at the start, ten pages opening at once made the first round 2 s
        slower. A try that ends before the delay passes the turn then (_pass_turn_now)."""
        if not request.meta.get(TURN) or id(request) in self.turn_timers:
            return
        delay = self._page_delay()
        if delay <= 0:
            self._pass_turn(request)
            return
        self.turn_timers[id(request)] = asyncio.get_running_loop().call_later(
            delay, self._pass_turn_now, request
        )

    def _page_delay(self) -> float:
        """JDPOWER_NEXT_PAGE_DELAY, as long as the report leaves time for it: the next page must
        have loaded by the time the report ends (with 300 ms reports, a page opened 0.1 s late
        made 500 vehicles take 96 s instead of 68 s)."""
        if self.report_seconds is None or self.page_seconds is None:
            return self.next_page_delay
        return max(0.0, min(self.next_page_delay, self.report_seconds - 2 * self.page_seconds))

    def _pass_turn_now(self, request: scrapy.Request) -> None:
        """The turn `_pass_turn_soon` is holding back for `request`, passed now."""
        timer = self.turn_timers.pop(id(request), None)
        if timer is not None:
            timer.cancel()
            self._pass_turn(request)

    def _pass_turn(self, request: scrapy.Request) -> None:
        """`request`'s report is under way: its worker opens the next vehicle's page."""
        if not request.meta.get(TURN):
            return
        request.meta[TURN] = False
        worker, context = request.meta[WORKER], request.meta["playwright_context"]
        self.served[context] = self.served.get(context, 0) + 1
        if self.served[context] >= self.recycle_after and context == self._context(worker):
            self.generation[worker] += 1
            self.retired.add(context)
            self.crawler.stats.inc_value("jdpower/contexts_recycled")
        engine = self.crawler.engine
        if engine is None:
            return
        for next_request in self._next(worker):
            try:
                engine.crawl(next_request)
            except RuntimeError:  # the spider closed meanwhile (max_downloads)
                return

    def _again(self, request: scrapy.Request, retry: scrapy.Request | None) -> Iterator[scrapy.Request]:
        """After a failed try of `request`: its `retry` (None: given up) and the worker's turn."""
        if retry is not None:
            for key in _THIS_TRY:
                retry.meta.pop(key, None)
            retry.meta[OPENED] = time.monotonic()
        if request.meta.get(TURN):
            if retry is not None:
                retry.meta[TURN] = True
                yield retry
            else:
                yield from self._next(request.meta[WORKER])
        elif retry is not None:
            self.pending.appendleft(retry)
            yield from self._wake()

    def _vehicle_request(self, vehicle: InventoryVehicle, worker: int) -> scrapy.Request:
        meta: dict[str, Any] = {
            "jdpower": True,
            "playwright": True,
            "playwright_include_page": True,
            "playwright_context": self._context(worker),
            "reuse_page": True,
            RUN: self.claimer,
            # the click waits for its control itself (_CLICK_DOWNLOAD), not for the page's
            # images and stylesheets, which are refused anyway
            "playwright_page_goto_kwargs": {"wait_until": "domcontentloaded"},
            WORKER: worker,
            "vehicle": {"ref": vehicle.ref, "description": vehicle.description},
            "dont_retry": True,  # retried here, with a fresh page, counted per vehicle
            TURN: True,
        }
        # each vehicle enters `pending` once per run; a resumed run asks the database again
        return scrapy.Request(
            f"{self.base_url}/vehicle/{vehicle.ref}",
            callback=self.download_report,
            errback=self.vehicle_failed,
            meta=meta,
            dont_filter=True,
        )

    # --- one vehicle ---
    async def download_report(self, response: Response) -> AsyncIterator[Any]:
        page = response.meta["playwright_page"]
        request = response.request
        assert request is not None
        if response.meta.get(RUN) != self.claimer:
            # a vehicle request of an earlier run, back from its JOBDIR queue: this run's
            # inventory schedules the vehicle again if it is not done. Taken too, it was fetched
            # twice, the second save of the same file deleting the first, with the vehicle done.
            self.crawler.stats.inc_value("jdpower/earlier_run_requests")
            await close_page(page)
            return
        if OPENED in response.meta:
            self.page_seconds = _average(self.page_seconds, time.monotonic() - response.meta[OPENED])
        ref = response.meta["vehicle"]["ref"]
        if ref in self.active_refs:  # never two tries of one vehicle at once
            await close_page(page)
            for request_ in self._again(request, None):
                yield request_
            return
        self.active_refs.add(ref)
        try:
            async for item in self._download_report(response):
                yield item
        finally:
            self.active_refs.discard(ref)

    async def _download_report(self, response: Response) -> AsyncIterator[Any]:
        page = response.meta["playwright_page"]
        vehicle = response.meta["vehicle"]
        request = response.request
        assert request is not None
        context = response.meta["playwright_context"]
        started = time.monotonic()
        try:
            # claimed, and the report's waiters armed, while the worker's previous report is
            # still being made: at the start of its turn only the click is left (the turns of
            # five contexts end together, and these round trips cost 60 ms of each turn then)
            if not await asyncio.to_thread(claim, self.engine_db, vehicle["ref"], self.claimer):
                self.crawler.stats.inc_value("jdpower/skipped_claimed")
                self._count_done()
                await self._done_with(page, context)
                for request_ in self._again(request, None):
                    yield request_
                return
            watches = [await ReportWatch.arm(page, self.pdf_timeout_ms)]
            try:
                async with self.report_locks[response.meta[WORKER]]:
                    started = time.monotonic()
                    data, expected = await self._report_with_retries(page, request, watches)
                    self.report_seconds = _average(self.report_seconds, time.monotonic() - started)
            finally:
                # once the worker's lock is free: its next click does not wait for the unroute,
                # a round trip to the driver (with the report told before its answer is
                # disposed of, 5 ms of each 5-context turn)
                self._pass_turn_now(request)  # before a failed try is retried (_again)
                for watch in watches:
                    await watch.disarm()
            await self._done_with(page, context)
        except SessionExpired:
            await self._close(page, context)
            # the session died between the page and its report: log in again, try again
            self.crawler.signals.send_catch_log(SESSION_EXPIRED, session=response.meta.get(SESSION_META))
            tries = response.meta.get("jdpower_relogin", 0) + 1
            if tries > 3:
                for item in self._failed(request, vehicle, ReportFailed("session kept expiring"), None):
                    yield item
                return
            retry = request.replace(dont_filter=True)
            retry.meta["jdpower_relogin"] = tries
            for item in self._again(request, retry):
                yield item
            return
        except Exception as exc:
            failures = self._failed(request, vehicle, exc, page)
            await self._close(page, context)
            for item in failures:
                yield item
            return
        problem = pdf_problem(data, expected)
        if problem is not None:
            for item in self._failed(request, vehicle, ReportFailed(problem), None):
                yield item
            return
        try:
            report = await self._save(vehicle, data, time.monotonic() - started, context)
        except DiskFull as exc:
            # every report after it would fail alike: stop; the vehicle stays to do (its claim
            # is released at close) and the next run, with space freed, fetches it
            stop_for_full_disk(self.crawler, exc, self.run_dir, "JDPOWER_OUTPUT_DIR")
            return
        yield report

    async def _close(self, page: Any, context: str) -> None:
        """Close a vehicle's page (its state is in doubt); and its context too, when that was
        the context's last one."""
        await close_page(page)
        if context in self.retired:
            await self._retire(page, context)

    async def _done_with(self, page: Any, context: str) -> None:
        """A vehicle's page whose report went through: it opens the worker's next vehicle but
        one, up to JDPOWER_PAGE_VEHICLES vehicles, unless its context is being made anew.

        A page opened anew starts a renderer process (CPU: 150 vehicles with 300 ms reports
        took 19.3 s, against 14.7 s with pages opening 5 vehicles each), but a renderer grows
        with every page it has shown (20 MB fresh, 38 MB after 30): with pages kept, the
        500-vehicle run's peak went from 587 MB to 630 MB (3 vehicles a page) and 786 MB (no
        limit), over the 600 MB asked for 5 contexts. So by default a page opens one vehicle."""
        if context in self.retired:
            await self._retire(page, context)
            return
        uses = self.page_uses.pop(page, 0) + 1
        if uses >= self.page_vehicles:
            # closed a moment later, like the next page opens (_pass_turn_soon): right now the
            # other contexts are clicking their next reports (5 contexts, 40 vehicles, medians
            # of 5 runs taken in turn: 18.54 s when closed at once, 18.29 s half that delay later)
            self.background.spawn(self._close_later(page, self._page_delay() / 2))
        else:
            self.page_uses[page] = uses
            self.pages.put(page, context)

    @staticmethod
    async def _close_later(page: Any, delay: float) -> None:
        await asyncio.sleep(delay)
        await close_page(page)

    async def _retire(self, page: Any, context: str) -> None:
        self.retired.discard(context)
        self.pages.forget(context)
        await close_context(page)

    async def _report_with_retries(
        self, page: Any, request: scrapy.Request, watches: list[ReportWatch]
    ) -> tuple[bytes, int | None]:
        """The report; the site's passing errors on the report API or link (RETRY_HTTP_CODES, 429)
        tried again on the same page, up to JDPOWER_HTTP_RETRIES times, before they count as a
        failed try of the vehicle: at a 5% error rate per request a try fails 14% of the time,
        and three tries in a row 0.3%, too close to the 0.5% of vehicles a long run may lose.

        Each try after the first arms a watch of its own, added to `watches`; the caller
        disarms them all. The worker's lock stays with the vehicle through its pauses: given
        to the next vehicle meanwhile, that one's report passed the turn on to a third, whose
        page waited for a place in the context (2 pages) that the two others kept when pages
        open several vehicles (JDPOWER_PAGE_VEHICLES), and the crawl stood still."""
        for attempt in range(self.http_retries + 1):
            try:
                if attempt:
                    watches.append(await ReportWatch.arm(page, self.pdf_timeout_ms))
                return await self._click_download(page, watches[-1], lambda: self._pass_turn_soon(request))
            except ReportFailed as exc:
                if exc.status not in self.passing_statuses or attempt == self.http_retries:
                    raise
                self.crawler.stats.inc_value("jdpower/http_retries")
                await watches[-1].disarm()  # its route would answer the next try's report
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
        raise AssertionError("unreachable")

    async def _click_download(
        self, page: Any, watch: ReportWatch, started: Callable[[], None]
    ) -> tuple[bytes, int | None]:
        """Click "Download PDF"; the report's bytes and the size announced.
        `started` is called once the site has accepted to make the report."""
        timeout = self.pdf_timeout_ms / 1000
        try:
            # the control's own click handler, in one call into the page: Playwright's click
            # waits for two animation frames (up to 1 s with ten pages open) and even its
            # dispatch_event took 54 ms with five contexts busy, against 28 ms for this
            clicked = await page.evaluate(_CLICK_DOWNLOAD, CONTROL_WAIT_MS)
            if not clicked:
                raise ReportFailed(
                    f"no Download PDF control on {page.url} after {CONTROL_WAIT_MS / 1000:.0f} s"
                )
            answer = await watch.wait(watch.api, timeout)
            if answer.status == 401:
                raise SessionExpired
            if answer.status != 200:
                raise ReportFailed(f"the report API answered HTTP {answer.status}", answer.status)
            started()
            status, headers, body = await watch.wait(watch.report, timeout)
            if status in (301, 302, 303, 401):
                raise SessionExpired
            if status != 200 or body is None:
                raise ReportFailed(f"the report answered HTTP {status}", status)
            length = headers.get("content-length")
            expected = int(length) if length and length.isdigit() else None
            return body, expected
        except TimeoutError:
            raise ReportFailed(f"no report within {timeout:.0f} s") from None

    async def _save(
        self, vehicle: dict[str, str], data: bytes, seconds: float, context: str
    ) -> VehicleReport:
        assert self.run_dir is not None
        target = self.run_dir / report_filename(vehicle["ref"])
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(write_whole, target, data)
        saved = await asyncio.to_thread(
            mark_done,
            self.engine_db,
            vehicle["ref"],
            self.claimer,
            path=str(target),
            size=len(data),
            sha256=digest,
            run=self.run_name,
        )
        self.context_failures[context] = 0
        self.logger.debug("Saved %s (%s) in %.2f s: %d bytes", vehicle["ref"], context, seconds, len(data))
        self.succeeded += 1
        self.vehicle_seconds += seconds
        self.crawler.stats.inc_value("jdpower/succeeded")
        self._count_done()
        if not saved:  # another run finished it meanwhile: keep theirs
            target.unlink(missing_ok=True)
        if self.params.max_downloads is not None and self.succeeded >= self.params.max_downloads:
            raise CloseSpider("max_downloads")
        return VehicleReport(vehicle["ref"], vehicle["description"], str(target), len(data), digest, seconds)

    def vehicle_failed(self, failure: Failure) -> Iterator[Any]:
        request = failure.request  # type: ignore[attr-defined]
        page = request.meta.get("playwright_page")
        if page is not None:
            self.background.spawn(self._close(page, request.meta["playwright_context"]))
        if request.meta.get(RUN) != self.claimer:  # an earlier run's (see download_report)
            return
        yield from self._failed(request, request.meta["vehicle"], failure.value or Exception("failed"), None)

    def _failed(
        self, request: scrapy.Request, vehicle: dict[str, str], exc: BaseException, page: Any
    ) -> Iterator[Any]:
        """A try of `vehicle` failed: its retry (fresh page), or the vehicle given up."""
        reason = first_line(exc, 300)
        context = request.meta.get("playwright_context", "")
        status = getattr(getattr(exc, "response", None), "status", None)
        passing = request.meta.get("jdpower_http_retries", 0)
        if status in self.passing_statuses and passing < self.http_retries:
            # the page itself answered 5xx/429: tried again at once, not counted against the vehicle
            self.crawler.stats.inc_value("jdpower/http_retries")
            again = request.replace(dont_filter=True)
            again.meta["jdpower_http_retries"] = passing + 1
            yield from self._again(request, again)
            return
        self.context_failures[context] = self.context_failures.get(context, 0) + 1
        if page is not None and self.context_failures[context] >= self.context_failures_limit:
            # several failures in a row: this context's state is suspect, start a fresh one
            self.crawler.stats.inc_value("jdpower/context_resets")
            self.context_failures[context] = 0
            self.background.spawn(close_context(page))
        self.logger.warning("Vehicle %s: %s", vehicle["ref"], reason)
        retry = get_retry_request(
            request, spider=self, reason=type(exc).__name__, max_retry_times=self.retries
        )
        if retry is None:
            self.failed_count += 1
            self.crawler.stats.inc_value("jdpower/failed")
            self.crawler.stats.inc_value("progress/failed")
            self.background.spawn(
                asyncio.to_thread(mark_failed, self.engine_db, vehicle["ref"], self.claimer, reason)
            )
        else:
            retry.meta.pop("jdpower_http_retries", None)
        yield from self._again(request, retry)

    def _count_done(self) -> None:
        self.crawler.stats.inc_value("progress/done")

    async def _closed(self, spider: Any, reason: str) -> None:
        if not hasattr(self, "engine_db"):
            return
        released = await asyncio.to_thread(release_claims, self.engine_db, self.claimer)
        if released:
            self.logger.info("%d vehicles under way go back to pending", released)
        if self.run_dir is not None:
            self._write_metrics(reason)

    def _write_metrics(self, reason: str) -> None:
        import json

        wall = time.monotonic() - self.started
        attempted = self.succeeded + self.failed_count
        stats = self.crawler.stats
        metrics = {
            "run": self.run_name,
            "finish_reason": reason,
            "total_inventory": self.inventory_total,
            "attempted": attempted,
            "succeeded": self.succeeded,
            "failed": self.failed_count,
            "skipped_already_downloaded": self.skipped_done,
            "success_rate": round(self.succeeded / attempted, 4) if attempted else None,
            "total_runtime_s": round(wall, 2),
            "avg_seconds_per_vehicle": round(self.vehicle_seconds / self.succeeded, 2)
            if self.succeeded
            else None,
            "concurrent_contexts": self.contexts,
            "browser_restarts": int(stats.get_value("playwright/browser_count", 1) or 1) - 1,
            "relogins": int(stats.get_value("jdpower/relogins", 0)),
            "speedup_factor": round(self.vehicle_seconds / wall, 2) if wall else None,
        }
        assert self.run_dir is not None
        if attempted == 0 and self.skipped_done:
            self.logger.info("Nothing to download: %d vehicles already downloaded", self.skipped_done)
        try:
            write_whole(self.run_dir / "metrics.json", (json.dumps(metrics, indent=2) + "\n").encode())
        except DiskFull as exc:  # said once already if the reports filled it
            self.logger.warning("Run metrics not written: %s", exc)
            return
        self.logger.info(
            "Run %s: %d saved, %d failed, %d already downloaded; metrics in %s",
            self.run_name,
            self.succeeded,
            self.failed_count,
            self.skipped_done,
            self.run_dir / "metrics.json",
        )


def _average(average: float | None, value: float) -> float:
    return value if average is None else 0.7 * average + 0.3 * value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


CONTROL_WAIT_MS = 15_000  # for a vehicle page to show its "Download PDF" control
# the report links the "Download PDF" control opens (one-time URLs)
REPORT_URLS = "**/reports/**"


# Clicks "Download PDF" once the page shows it (at once when its HTML has it; a page that
# renders it from JavaScript is given up to `waitMs`); false when it never came.
_CLICK_DOWNLOAD = """(waitMs) => new Promise((resolve) => {
    const click = () => {
        const control = document.querySelector('#download-pdf');
        if (!control) return false;
        control.click();
        return true;
    };
    if (click()) return resolve(true);
    const observer = new MutationObserver(() => {
        if (click()) { observer.disconnect(); clearTimeout(timer); resolve(true); }
    });
    const timer = setTimeout(() => { observer.disconnect(); resolve(false); }, waitMs);
    observer.observe(document, {childList: true, subtree: true});
})"""


class ReportWatch:
    """What one click on "Download PDF" is waited for with: the report API's answer and the
    report link's (through `_report_route`). Armed before the click, with no
    timeout of their own: the click applies JDPOWER_PDF_TIMEOUT from when it is made. A page
    whose browser dies answers none of them, nor says it closed: `wait` also ends when the page
    closes or crashes and when the browser goes (else that vehicle waited the whole timeout).

    The report link goes through `_report_route`, which takes the report from it and answers
    the page with a 204 (no navigation), the report and an error or a login redirect alike:
    Chromium never answers closing a page that is still on its way to an error page (its place
    among the context's pages was lost for good, and after ten of those the crawl stood still)."""

    def __init__(self, page: Any, timeout_ms: float) -> None:
        self.page = page
        self.disarmed = False
        loop = asyncio.get_running_loop()
        self.report: asyncio.Future[tuple[int, dict[str, str], bytes | None]] = loop.create_future()
        self.handler = functools.partial(_report_route, self.report, timeout_ms)
        self.api: asyncio.Future[Any] = asyncio.ensure_future(
            page.wait_for_event("response", predicate=_is_report_api, timeout=0)
        )
        self.gone: asyncio.Future[None] = loop.create_future()
        page.on("close", self._gone)
        page.on("crash", self._gone)
        self.browser = page.context.browser
        if self.browser is not None:
            self.browser.on("disconnected", self._gone)

    def _gone(self, *_: Any) -> None:
        if not self.gone.done():
            self.gone.set_exception(
                ReportFailed("the browser page went away (closed, crashed or its browser died)")
            )

    async def wait(self, awaited: Any, timeout_s: float) -> Any:
        """What `awaited` gives, unless the page goes first (ReportFailed) or `timeout_s` ends."""
        waiter = asyncio.ensure_future(awaited)
        try:
            done, _ = await asyncio.wait(
                {waiter, self.gone}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if waiter in done:
                return waiter.result()
            if self.gone in done:
                self.gone.result()  # raises
            raise TimeoutError
        finally:
            if not waiter.done() and waiter not in (self.api, self.report):
                waiter.cancel()  # its own: the watch's are ended by disarm

    @classmethod
    async def arm(cls, page: Any, timeout_ms: float) -> ReportWatch:
        watch = cls(page, timeout_ms)
        try:
            await page.route(REPORT_URLS, watch.handler)
        except BaseException:
            await watch.disarm()
            raise
        return watch

    async def disarm(self) -> None:
        if self.disarmed:
            return
        self.disarmed = True
        with contextlib.suppress(Exception):
            await self.page.unroute(REPORT_URLS, self.handler)  # the next click routes its own
        for listener, event in ((self.page, "close"), (self.page, "crash"), (self.browser, "disconnected")):
            if listener is not None:
                with contextlib.suppress(Exception):
                    listener.remove_listener(event, self._gone)
        for future in (self.report, self.gone):  # read: a failure nobody awaited is not logged as lost
            if future.done() and not future.cancelled():
                future.exception()
        if not self.api.done():
            self.api.cancel()
        with contextlib.suppress(BaseException):
            await self.api


def _is_report_api(response: Any) -> bool:
    return bool(response.url.endswith("/api/reports"))


async def _report_route(
    report: asyncio.Future[tuple[int, dict[str, str], bytes | None]], timeout_ms: float, route: Any
) -> None:
    """The page's request for its report, fetched with the page's own cookies and headers: its
    status, headers and (a 200's) body are told to `report`, and the page gets a 204, which
    keeps it where it is.

    The body is taken here rather than handed on to the browser for it to download: that cost
    the body's trip from Playwright's driver to Chromium, Chromium's download to a file, the
    download's events and the file read back, and the driver kept every download, and with it
    its page, until the context closed (bench/jdpower_long.py: the driver's peak 126-127 MB
    instead of 134-140, the whole crawl's 546-559 MB instead of 564-572)."""
    try:
        fetched = await route.fetch(max_redirects=0, timeout=timeout_ms)
    except Exception as exc:
        _report_failed(report, exc)
        with contextlib.suppress(Exception):
            await route.abort()
        return
    try:
        body = await fetched.body() if fetched.status == 200 else None
    except Exception as exc:
        _report_failed(report, exc)
    else:
        if not report.done():
            report.set_result((fetched.status, fetched.headers, body))
    # told first: the worker's next click does not wait for the answer's disposal, a round
    # trip to the driver
    with contextlib.suppress(Exception):
        await fetched.dispose()  # Playwright's driver keeps every fetched body until then
    with contextlib.suppress(Exception):
        await route.fulfill(status=204)


def _report_failed(report: asyncio.Future[Any], exc: Exception) -> None:
    if not report.done():
        report.set_exception(ReportFailed(f"the report link: {first_line(exc)}"))
