"""`scrapy crawl jdpower`: every vehicle's report PDF from the J.D. Power portal, several browser
contexts at once, each vehicle once.

    JD_USER=... JD_PASS=... scrapy crawl jdpower [-a max_downloads=N] [-s CONCURRENT_CONTEXTS=5]

The login (and the licence) is JDPowerSessionMiddleware's: once, shared by every context. The
inventory comes from the portal's JSON API (the call its page makes) with the same session.
Each vehicle's page opens in one of CONCURRENT_CONTEXTS browser contexts, its "Download PDF"
button is clicked and the browser's download is checked (`%PDF`, `%%EOF`, the size announced)
before it is saved as `<output>/<day>/run-<N>/<reference>.pdf`. The `vehicles` table says what
is done: a done vehicle is never downloaded again, and `claim` lets only one context or run
take a vehicle. Two retries per vehicle, on a fresh page; a context that fails
JDPOWER_CONTEXT_FAILURES times in a row is closed and made anew; a dead browser is relaunched
by scrapy-playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
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


class SessionExpired(Exception):
    """The page landed on the login form: the shared session died meanwhile."""


class ReportFailed(Exception):
    pass


class JDPowerSpider(scrapy.Spider):
    name = "jdpower"
    custom_settings = {
        "DOWNLOADER_MIDDLEWARES": {
            "crawler.middlewares.pinterest_session.PinterestSessionMiddleware": None,
            "crawler.middlewares.jdpower_session.JDPowerSessionMiddleware": 540,
        },
        "ITEM_PIPELINES": {},  # the vehicles table is written as each report is saved
        # a context is a worker: one report at a time, the next vehicle's page loading meanwhile
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 2,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": 60_000,
    }

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        contexts = max(1, settings.getint("CONCURRENT_CONTEXTS", 5))
        # two pages per context (a report, the next page), the login context, the inventory calls
        settings.set("PLAYWRIGHT_MAX_CONTEXTS", contexts + 1, priority="spider")
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
        # The workers: one report at a time per context (`report_locks`), and while it is made
        # the context already opens the next vehicle's page (two pages per context), so page
        # loads never wait in line behind the reports: a page costs 0.3-0.8 s of a 2.5 s
        # vehicle when five contexts load theirs at once.
        self.pending: deque[InventoryVehicle] = deque()
        self.queued_refs: set[str] = set()
        self.idle = [f"jdpower-{k}" for k in reversed(range(self.contexts))]
        self.report_locks = {f"jdpower-{k}": asyncio.Lock() for k in range(self.contexts)}
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
        while self.idle and self.pending:
            yield self._vehicle_request(self.pending.popleft(), self.idle.pop())

    def _next(self, context: str) -> Iterator[scrapy.Request]:
        """The worker `context` took up a vehicle: open the next one's page meanwhile."""
        if not self.pending:
            if context not in self.idle:
                self.idle.append(context)
            return
        yield self._vehicle_request(self.pending.popleft(), context)

    def _vehicle_request(self, vehicle: InventoryVehicle, context: str) -> scrapy.Request:
        meta: dict[str, Any] = {
            "jdpower": True,
            "playwright": True,
            "playwright_include_page": True,
            "playwright_context": context,
            "vehicle": {"ref": vehicle.ref, "description": vehicle.description},
            "dont_retry": True,  # retried here, with a fresh page, counted per vehicle
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
        vehicle = response.meta["vehicle"]
        request = response.request
        assert request is not None
        context = response.meta["playwright_context"]
        started = time.monotonic()
        try:
            async with self.report_locks[context]:
                started = time.monotonic()
                if not await asyncio.to_thread(claim, self.engine_db, vehicle["ref"], self.claimer):
                    self.crawler.stats.inc_value("jdpower/skipped_claimed")
                    self._count_done()
                    await _close_page(page)
                    for request_ in self._next(context):
                        yield request_
                    return
                data, expected = await self._click_download(page, lambda: self._prefetch(context))
            await _close_page(page)
        except SessionExpired:
            await _close_page(page)
            # the session died between the page and its report: log in again, try again
            self.crawler.signals.send_catch_log(SESSION_EXPIRED, session=response.meta.get(SESSION_META))
            tries = response.meta.get("jdpower_relogin", 0) + 1
            if tries > 3:
                for item in self._failed(request, vehicle, ReportFailed("session kept expiring"), None):
                    yield item
                return
            retry = request.replace(dont_filter=True)
            for key in ("playwright_page", "download_latency"):  # this try's, not the next one's
                retry.meta.pop(key, None)
            retry.meta["jdpower_relogin"] = tries
            yield retry
            return
        except Exception as exc:
            failures = self._failed(request, vehicle, exc, page)
            await _close_page(page)
            for item in failures:
                yield item
            return
        problem = pdf_problem(data, expected)
        if problem is not None:
            await _close_page(page)
            for item in self._failed(request, vehicle, ReportFailed(problem), None):
                yield item
            return
        yield await self._save(vehicle, data, time.monotonic() - started, context)

    def _prefetch(self, context: str) -> None:
        """A report is being made: open the next vehicle's page in the same context meanwhile.
        (Not before: at the start, ten pages opening at once made the first round 2 s slower.)"""
        engine = self.crawler.engine
        if engine is not None:
            for request in self._next(context):
                engine.crawl(request)

    async def _click_download(self, page: Any, started: Callable[[], None]) -> tuple[bytes, int | None]:
        """Click "Download PDF"; the bytes the browser downloaded and the size announced.
        `started` is called once the site has accepted to make the report."""
        timeout = self.pdf_timeout_ms
        download_waiter = asyncio.ensure_future(page.wait_for_event("download", timeout=timeout))
        report_waiter = asyncio.ensure_future(
            page.wait_for_event("response", predicate=lambda r: "/reports/" in r.url, timeout=timeout)
        )
        try:
            async with page.expect_response(lambda r: r.url.endswith("/api/reports"), timeout=timeout) as api:
                # the control's own click handler, without Playwright's actionability waits
                # (two animation frames, up to 1 s with ten pages open; the page is loaded)
                await page.dispatch_event("#download-pdf", "click")
            answer = await api.value
            if answer.status == 401:
                raise SessionExpired
            if answer.status != 200:
                raise ReportFailed(f"the report API answered HTTP {answer.status}")
            started()
            expected: int | None = None
            done, _ = await asyncio.wait(
                {download_waiter, report_waiter}, return_when=asyncio.FIRST_COMPLETED
            )
            if report_waiter in done and report_waiter.exception() is None:
                report = report_waiter.result()
                if report.status in (301, 302, 303, 401):
                    raise SessionExpired
                if report.status != 200:
                    raise ReportFailed(f"the report answered HTTP {report.status}")
                length = (await report.all_headers()).get("content-length")
                expected = int(length) if length and length.isdigit() else None
            download = await download_waiter
            failure = await download.failure()
            if failure:
                raise ReportFailed(f"the download failed: {failure}")
            path = await download.path()
            data = await asyncio.to_thread(Path(path).read_bytes)
            with contextlib.suppress(Exception):
                await download.delete()
            return data, expected
        finally:
            for waiter in (download_waiter, report_waiter):
                if not waiter.done():
                    waiter.cancel()
                with contextlib.suppress(BaseException):
                    await waiter

    async def _save(
        self, vehicle: dict[str, str], data: bytes, seconds: float, context: str
    ) -> VehicleReport:
        assert self.run_dir is not None
        target = self.run_dir / report_filename(vehicle["ref"])
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(_write_atomically, target, data)
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
            self._closing = asyncio.ensure_future(_close_page(page))
        yield from self._failed(request, request.meta["vehicle"], failure.value or Exception("failed"), None)

    def _failed(
        self, request: scrapy.Request, vehicle: dict[str, str], exc: BaseException, page: Any
    ) -> Iterator[Any]:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300] or type(exc).__name__
        context = request.meta.get("playwright_context", "")
        self.context_failures[context] = self.context_failures.get(context, 0) + 1
        if page is not None and self.context_failures[context] >= self.context_failures_limit:
            # several failures in a row: this context's state is suspect, start a fresh one
            self.crawler.stats.inc_value("jdpower/context_resets")
            self.context_failures[context] = 0
            self._resetting = asyncio.ensure_future(_close_context(page))
        self.logger.warning("Vehicle %s: %s", vehicle["ref"], reason)
        retry = get_retry_request(
            request, spider=self, reason=type(exc).__name__, max_retry_times=self.retries
        )
        if retry is not None:
            for key in ("playwright_page", "download_latency"):
                retry.meta.pop(key, None)
            yield retry
            return
        self.failed_count += 1
        self.crawler.stats.inc_value("jdpower/failed")
        self.crawler.stats.inc_value("progress/failed")
        self._failing = asyncio.ensure_future(
            asyncio.to_thread(mark_failed, self.engine_db, vehicle["ref"], self.claimer, reason)
        )
        yield from self._next(context)

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
        (self.run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        self.logger.info(
            "Run %s: %d saved, %d failed, %d already downloaded; metrics in %s",
            self.run_name,
            self.succeeded,
            self.failed_count,
            self.skipped_done,
            self.run_dir / "metrics.json",
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _write_atomically(target: Path, data: bytes) -> None:
    part = target.with_name(target.name + ".part")
    part.write_bytes(data)
    os.replace(part, target)


async def _close_page(page: Any) -> None:
    with contextlib.suppress(Exception):
        await page.close()


async def _close_context(page: Any) -> None:
    with contextlib.suppress(Exception):
        await page.context.close()
