"""`scrapy crawl links -a batch=PATH`: a batch of mixed links through one queue and one pool.

    scrapy crawl links -a batch=links.json [-a retry_failed=1] [-a max_comments=N] [-a sort=new]
    scrapy crawl links -a batch=urls.txt -O results.jsonl

Each link becomes a row of the task table (crawler/db/tasks.py), which says what is left after
any stop: a link completed in an earlier run of the batch is not fetched again, a failed one
only with `retry_failed=1`. The pool is CONCURRENT_REQUESTS workers: a task holds a worker from
its claim (a lease in the database) to its end, and its requests go one after the other (a
video's page then its transcript, a thread then its `more` stubs), so that a worker is never
idle while a task waits and no source waits behind another's. The source of each link comes
from `classify(url)` (crawler/sites); each source's requests and parsers live in its module
there, and this spider only schedules.

Results go through the one writer pipeline to link_results and link_comments, then the task's
end (the writer keeps that order: a crash between them leaves the task to do again, and the
results are rewritten, not duplicated), and to feeds (`-O results.jsonl`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import scrapy
from scrapy.extensions.feedexport import ItemFilter
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.batches import BadLink, BatchError, batch_id, read_batch
from crawler.components import add_components
from crawler.db import make_engine
from crawler.db import tasks as task_table
from crawler.db.outage import DatabaseUnavailable, Outage
from crawler.extensions.prompt_scheduling import start_waiting_requests
from crawler.items import TaskEnd
from crawler.middlewares.public_only import AddressRefused
from crawler.params import ArgumentError, LinksParams
from crawler.parsers import MalformedResponse
from crawler.report import html_report
from crawler.sites import (
    ARTICLE,
    Answer,
    Fetch,
    Flow,
    Link,
    LinkFailed,
    NotALink,
    Options,
    classify,
    flow_for,
)
from crawler.storage import DiskFull, write_whole
from crawler.tasklog import TaskLog
from crawler.taskpool import TaskPool

QUEUE = "links"
_ADD_CHUNK = 1000  # batch links added to the task table a transaction at a time


@dataclass
class Task:
    """A claimed task, its source's flow and that flow's state; travels in its requests' meta
    (in this process: a task is claimed by the run that works it)."""

    key: str
    kind: str
    url: str
    link: Link
    slot: int
    flow: Flow
    state: dict[str, Any] = field(default_factory=dict)


class ResultsOnly(ItemFilter):
    """Feeds get results, not TaskEnd items."""

    def accepts(self, item: Any) -> bool:
        return not isinstance(item, TaskEnd) and super().accepts(item)


class LinksSpider(scrapy.Spider):
    name = "links"

    @classmethod
    def update_settings(cls, settings: Any) -> None:
        super().update_settings(settings)
        add_components(
            settings,
            "DOWNLOADER_MIDDLEWARES",
            # first: every request and every redirect hop is checked before anything else
            {"crawler.middlewares.public_only.PublicAddressesOnly": 40},
        )
        # a feed (`-O results.jsonl`) holds what was fetched, not the tasks' bookkeeping; a feed
        # that names its own item_filter keeps it
        feeds = settings.getdict("FEEDS")
        if feeds:
            filtered = {uri: {"item_filter": ResultsOnly, **options} for uri, options in feeds.items()}
            # one above the command line's: `scrapy crawl` merges its own settings (-O among
            # them) into the crawler's again, and an equal priority would put them back
            settings.set("FEEDS", filtered, priority=(settings.getpriority("FEEDS") or 0) + 1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = ("batch", "retry_failed", "max_comments", "sort")
        spider_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k not in names}
        super().__init__(*args, **spider_kwargs)
        self.params = LinksParams.parse(**kwargs)
        self.options = Options(max_comments=self.params.max_comments, sort=self.params.sort)
        self._flows: dict[str, Flow] = {}
        try:
            self.batch = batch_id(self.params.batch)
        except BatchError as exc:
            raise ArgumentError(str(exc)) from None
        self.queue = task_table.Queue(QUEUE, self.batch)
        self.owner = uuid.uuid4().hex  # this run's leases

    @classmethod
    def check_arguments(cls, **kwargs: Any) -> None:
        params = LinksParams.parse(**kwargs)
        try:
            batch_id(params.batch)
        except BatchError as exc:
            raise ArgumentError(str(exc)) from None

    # --- the pool ---------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.outage = Outage.of(self.crawler)
        settings = self.crawler.settings
        workers = settings.getint("CONCURRENT_REQUESTS")
        self.tasklog = TaskLog(self.crawler.stats, workers, settings.get("PROGRESS_FILE") or None)
        try:
            self.engine = await self.outage.run(make_engine, settings.get("DATABASE_URL"))
            self.pool = TaskPool(
                self.crawler,
                self.engine,
                self.queue,
                self.owner,
                self.tasklog,
                retry_failed=self.params.retry_failed,
            )
            await self._add_batch()
            await self.pool.run(self._start_task, self._closing_engine)
        except DatabaseUnavailable as exc:
            self.outage.give_up(exc)
        return
        yield  # an async generator that schedules through the engine itself

    async def _add_batch(self) -> None:
        """Every link of the batch as a task row (a link there already keeps its row); links
        that are not ones fail at once with their reason. In chunks, off the reactor thread."""
        links = read_batch(self.params.batch)
        added = refused = bad = 0
        while chunk := await asyncio.to_thread(_take, links, _ADD_CHUNK):
            new: list[task_table.NewTask] = []
            refusals: list[tuple[str, str]] = []
            for link in chunk:
                if isinstance(link, BadLink):
                    bad += 1
                    self.logger.error("Batch %s: %s; skipped", link.where, link.problem)
                    continue
                try:
                    found = classify(link.url, link.kind)
                except NotALink as exc:
                    new.append(task_table.NewTask(link.key, None, link.url))  # no kind: never claimed
                    refusals.append((link.key, str(exc)))
                    continue
                payload = json.dumps({"id": found.id}) if found.id else None
                new.append(task_table.NewTask(link.key, found.kind, link.url, payload))
            added += await self.outage.run(task_table.add, self.engine, self.queue, new)
            if refusals:
                done = set(await self.outage.run(task_table.refuse, self.engine, self.queue, refusals))
                refused += len(done)
                for key, reason in refusals:
                    if key in done:
                        self.logger.warning("Link %s refused: %s", key, reason)
        stats = self.crawler.stats
        stats.set_value("links/batch_new", added)
        stats.set_value("links/batch_refused", refused)
        stats.set_value("links/batch_bad", bad)
        counts = await self.outage.run(task_table.counts, self.engine, self.queue)
        self.logger.info(
            "Batch %s: %d new links; in the database: %s",
            self.batch,
            added,
            ", ".join(f"{n} {state}" for state, n in counts.items() if n),
        )
        left = counts["pending"] + counts["cancelled"] + (counts["failed"] if self.params.retry_failed else 0)
        stats.set_value("progress/total", left)
        self.tasklog.queued(left)

    def _start_task(self, row: Any, slot: int) -> None:
        kind = row.kind or ARTICLE
        link_id = json.loads(row.payload).get("id") if row.payload else None
        flow = self._flows.get(kind)
        if flow is None:  # one per source: a flow keeps its state in the task, not in itself
            flow = self._flows[kind] = flow_for(kind, self.options)
        task = Task(row.key, kind, row.url, Link(kind, link_id), slot, flow)
        self.tasklog.started(task.key, task.kind, slot)
        engine = self.crawler.engine
        assert engine is not None
        engine.crawl(self._first_request(task))
        start_waiting_requests(self.crawler)

    def _closing_engine(self) -> bool:
        engine = self.crawler.engine
        slot = getattr(engine, "_slot", None)
        return engine is None or slot is None or getattr(slot, "closing", None) is not None

    def _end(
        self, task: Task, state: str, *, error: str | None = None, ref: str | None = None, final: bool = True
    ) -> TaskEnd:
        on_saved = self.tasklog.ended(task.key, state, error)
        self.pool.free(task.slot)
        if error:
            self.logger.info("Link %s (%s) failed: %s", task.key, task.kind, error)
        return TaskEnd(QUEUE, self.batch, task.key, self.owner, state, error, ref, final, task.slot, on_saved)

    async def closed(self, reason: str) -> None:
        """Scrapy calls this once the writer has written every row (pipelines close before
        spider_closed): the run's figures and report, then the tasks this run still holds go
        back; after a Ctrl+C those not started end as cancelled too."""
        pool, log = getattr(self, "pool", None), getattr(self, "tasklog", None)
        if pool is None or log is None:
            return
        pool.stop()
        cancelled = reason == "shutdown"
        if cancelled:
            log.cancel_running()
        # before the first await: the metrics JSON is written by a handler of the same signal
        self._report(log)
        try:
            held, waiting = await asyncio.to_thread(pool.give_back, cancelled=cancelled)
            counts = await asyncio.to_thread(task_table.counts, self.engine, self.queue)
        except Exception as exc:  # the database is gone: the leases expire by themselves
            self.logger.warning("Could not give back this run's tasks (%s): their leases expire", exc)
            return
        if held or waiting:
            state = task_table.CANCELLED if cancelled else task_table.PENDING
            self.logger.info("Stopped: %d tasks in flight and %d not started end as %s", held, waiting, state)
        self.crawler.stats.set_value("links/released", held)
        self.crawler.stats.set_value("links/cancelled", waiting)
        self.logger.info(
            "Batch %s: tasks now %s; results in link_results and link_comments%s",
            self.batch,
            ", ".join(f"{n} {state}" for state, n in counts.items() if n),
            f"; run report: {self.report_path}" if self.report_path else "",
        )

    def _report(self, log: TaskLog) -> None:
        """The run's metrics (for the metrics JSON: run_metrics) and its HTML report (a few KB,
        written whole at close)."""
        self.metrics = log.metrics()
        log.close()
        self.report_path: Path | None = None
        folder = self.crawler.settings.get("METRICS_DIR")
        if not folder:
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = Path(folder) / f"links-{_safe(self.batch)}-{stamp}.html"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_whole(path, html_report(self.metrics, f"links: batch {self.batch}").encode("ascii"))
        except (OSError, DiskFull) as exc:
            self.logger.warning("Run report not written: %s", exc)
            return
        self.report_path = path

    def run_metrics(self) -> dict[str, Any] | None:
        """What the metrics JSON (crawler/extensions/progress.py) adds for this run."""
        metrics = getattr(self, "metrics", None)
        if metrics is None:
            return None
        return {**metrics, "report": str(self.report_path) if self.report_path else None, "batch": self.batch}

    # --- requests: what each source's flow (crawler/sites) asks for --------------------------

    def _request(self, task: Task, fetch: Fetch) -> scrapy.Request:
        meta: dict[str, Any] = {
            "task": task,
            "note": fetch.note,
            "handle_httpstatus_list": list(fetch.accept),
        }
        if not fetch.follow_redirects:
            meta["dont_redirect"] = True
        if fetch.slow_down_check:
            meta["slow_down_check"] = fetch.slow_down_check
        cookies: Any = dict(fetch.cookies) if fetch.cookies else None  # Request wants str | bytes keys
        return scrapy.Request(
            fetch.url,
            method=fetch.method,
            headers=fetch.headers or None,
            body=fetch.body,
            cookies=cookies,
            meta=meta,
            callback=self.parse_answer,
            errback=self.task_error,
            # the task table, not the dupefilter, says what was fetched: two links of a batch
            # with one URL are two tasks, and each must get its answer
            dont_filter=True,
            priority=10,  # a task's next request before any new task's first
        )

    def _first_request(self, task: Task) -> scrapy.Request:
        return self._request(task, task.flow.start(task.link, task.url, task.state))

    def parse_answer(self, response: Response) -> Iterator[Any]:
        task: Task = response.meta["task"]
        headers = {
            name.decode("latin-1").lower(): (response.headers.get(name) or b"").decode("latin-1")
            for name in response.headers
        }
        answer = Answer(
            url=response.url,
            status=response.status,
            headers=headers,
            body=response.body,
            text=response.text if isinstance(response, TextResponse) else None,
            note=response.meta["note"],
        )
        try:
            step = task.flow.step(answer, task.state)
        except LinkFailed as exc:
            yield self._end(task, task_table.FAILED, error=exc.reason, final=exc.final)
            return
        except MalformedResponse as exc:
            yield self._end(task, task_table.FAILED, error=f"{exc} ({response.url})")
            return
        except Exception as exc:
            # a bug met by an answer nobody foresaw: the task fails with it, its worker goes on
            # (an exception left to Scrapy would hold the worker for the rest of the run)
            self.logger.exception("Link %s (%s): reading %s failed", task.key, task.kind, response.url)
            yield self._end(
                task, task_table.FAILED, error=f"internal error: {type(exc).__name__}: {exc} ({response.url})"
            )
            return
        yield from step.items
        if step.next is not None:
            yield self._request(task, step.next)
        else:
            yield self._end(task, task_table.COMPLETED, ref=step.result)

    def task_error(self, failure: Failure) -> Iterator[TaskEnd]:
        request = failure.request  # type: ignore[attr-defined]
        task: Task = request.meta["task"]
        if failure.check(AddressRefused):
            reason = str(failure.value)
        elif failure.check(HttpError):
            response = failure.value.response  # type: ignore[union-attr]
            reason = f"HTTP {response.status} from {response.url}"
        else:
            reason = f"{type(failure.value).__name__}: {failure.getErrorMessage()} ({request.url})"
        hops = request.meta.get("redirect_urls")
        if hops:
            reason += f", redirected from {hops[0]}"
        yield self._end(task, task_table.FAILED, error=reason)


def _safe(name: str) -> str:
    """A batch id as a file name's part: what a user gave must not leave the metrics folder."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip(".")[:80] or "batch"


def _take(links: Iterator[Any], n: int) -> list[Any]:
    chunk = []
    for link in links:
        chunk.append(link)
        if len(chunk) >= n:
            break
    return chunk
