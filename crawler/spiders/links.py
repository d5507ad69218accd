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
import contextlib
import heapq
import json
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
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
from crawler.items import CommentsFetched, TaskEnd
from crawler.middlewares.public_only import AddressRefused
from crawler.params import ArgumentError, LinksParams
from crawler.parsers import MalformedResponse
from crawler.report import html_report
from crawler.sites import (
    ARTICLE,
    BILIBILI,
    REDDIT,
    YOUTUBE,
    YOUTUBE_COMMENTS,
    NotALink,
    Refused,
    SlowDown,
    articles,
    bilibili,
    classify,
    reddit,
    youtube,
    youtube_comments,
)
from crawler.storage import DiskFull, write_whole
from crawler.tasklog import TaskLog

QUEUE = "links"
_PAGE = 500  # tasks read from the database at a time
_ADD_CHUNK = 1000  # batch links added to the task table a transaction at a time
_HELD_POLL_S = 2.0  # how often a run with nothing to claim looks at what another run holds


class TaskFailed(Exception):
    """A task ends failed: `final` False leaves it to a later run (risk control that outlasted
    the throttle's retries), True is the site's or the link's last word."""

    def __init__(self, reason: str, *, final: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final


@dataclass
class Task:
    """A claimed task and what its next request needs; travels in its requests' meta."""

    key: str
    kind: str
    url: str
    link_id: str | None
    slot: int
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
        # the task table, not the dupefilter, says what was fetched: two links of a batch with
        # the same URL are two tasks, each must get its answer
        settings.set("DUPEFILTER_CLASS", "scrapy.dupefilters.BaseDupeFilter", priority="spider")
        settings.set("LINKS_LEASE_S", settings.getfloat("LINKS_LEASE_S", 120.0), priority="default")
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

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> LinksSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._closing, signal=signals.spider_closed)
        return spider

    # --- the pool ---------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[scrapy.Request]:
        self.outage = Outage.of(self.crawler)
        settings = self.crawler.settings
        self.workers = settings.getint("CONCURRENT_REQUESTS")
        self.lease_s = settings.getfloat("LINKS_LEASE_S")
        self.tasklog = TaskLog(self.crawler.stats, self.workers, settings.get("PROGRESS_FILE") or None)
        self.free_slots = list(range(self.workers))
        self.slot_freed = asyncio.Event()
        self.stopping = False
        self._told_waiting = False
        self._position = 0
        try:
            self.engine = await self.outage.run(make_engine, settings.get("DATABASE_URL"))
            await self._add_batch()
            renewing = asyncio.ensure_future(self._renew_leases())
            try:
                await self._run_pool()
            finally:
                renewing.cancel()
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
                    new.append(task_table.NewTask(link.key, link.kind, link.url))
                    refusals.append((link.key, str(exc)))
                    continue
                payload = json.dumps({"id": found.id}) if found.id else None
                new.append(task_table.NewTask(link.key, found.kind, link.url, payload))
            added += await self.outage.run(task_table.add, self.engine, self.queue, new)
            for key, reason in refusals:
                if await self.outage.run(task_table.refuse, self.engine, self.queue, key, reason):
                    refused += 1
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

    async def _run_pool(self) -> None:
        """Start claimed tasks while a worker is free, until none is left to claim.

        Tasks are claimed a few at a time ahead of the workers, in the background: a worker that
        frees up starts the next task at once instead of waiting for a claim's transaction
        (measured: 87% utilisation while work was queued with one claim per start, on SQLite
        beside the writer's transactions; bench/links.py)."""
        ahead = max(2, self.workers // 2)
        buffer: deque[Any] = deque()
        refill: asyncio.Future[list[Any]] | None = None
        self._after = 0
        while not self.stopping:
            if refill is not None and (refill.done() or not buffer):
                buffer.extend(await refill)
                refill = None
            if not buffer:
                rows = await self._claim(self.workers + ahead)
                if not rows and self._after:
                    self._after = 0  # once more from the start: tasks freed by another run since
                    rows = await self._claim(self.workers + ahead)
                if not rows:
                    if await self._wait_for_others():
                        continue
                    return
                buffer.extend(rows)
                continue
            slot = await self._free_slot()
            if self.stopping or self._closing_engine():
                self.stopping = True
                heapq.heappush(self.free_slots, slot)
                break
            row = buffer.popleft()
            link_id = json.loads(row.payload).get("id") if row.payload else None
            task = Task(row.key, row.kind or ARTICLE, row.url, link_id, slot)
            self.tasklog.started(task.key, task.kind, slot)
            self._schedule(self._first_request(task))
            if refill is None and len(buffer) < ahead:
                refill = asyncio.ensure_future(self._claim(ahead))
        if refill is not None:
            await refill  # claimed: given back with the rest when the spider closes

    async def _claim(self, limit: int) -> list[Any]:
        rows = await self.outage.run(
            lambda after=self._after: task_table.claim_next(
                self.engine,
                self.queue,
                self.owner,
                self.lease_s,
                after=after,
                limit=limit,
                retry_failed=self.params.retry_failed,
            )
        )
        if rows:
            self._after = max(self._after, rows[-1].id)
            for row in rows:
                self._position += 1
                self.tasklog.pending(row.key, row.kind or "", self._position)
        return list(rows)

    async def _wait_for_others(self) -> bool:
        """With nothing to claim: whether another run holds tasks of the batch (killed, its
        leases not expired yet), after waiting a little for them; False when none is held."""
        wait = await self.outage.run(task_table.held_elsewhere, self.engine, self.queue, self.owner)
        self.tasklog.queued(0)  # nothing this run can claim now
        if wait is None:
            return False
        if not self._told_waiting:
            self._told_waiting = True
            self.logger.info("Tasks held by another run: waiting for it, or for its leases to expire")
        # looked at again every few seconds: the other run may end them before then
        await asyncio.sleep(min(wait + 0.5, _HELD_POLL_S))
        self._after = 0
        return not self.stopping

    async def _free_slot(self) -> int:
        while not self.free_slots and not self.stopping:
            self.slot_freed.clear()
            await self.slot_freed.wait()
        return heapq.heappop(self.free_slots) if self.free_slots else -1

    def _closing_engine(self) -> bool:
        engine = self.crawler.engine
        slot = getattr(engine, "_slot", None)
        return engine is None or slot is None or getattr(slot, "closing", None) is not None

    def _schedule(self, request: scrapy.Request) -> None:
        engine = self.crawler.engine
        assert engine is not None
        engine.crawl(request)
        start_waiting_requests(self.crawler)

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.outage.run(task_table.renew, self.engine, self.owner, self.lease_s)
            except DatabaseUnavailable:
                continue  # the writer gives up for the crawl; leases expire and are taken again

    def _end(
        self, task: Task, state: str, *, error: str | None = None, ref: str | None = None, final: bool = True
    ) -> TaskEnd:
        on_saved = self.tasklog.ended(task.key, state, error)
        heapq.heappush(self.free_slots, task.slot)
        self.slot_freed.set()
        if error:
            self.logger.info("Link %s (%s) failed: %s", task.key, task.kind, error)
        return TaskEnd(QUEUE, self.batch, task.key, self.owner, state, error, ref, final, task.slot, on_saved)

    def _closing(self, spider: scrapy.Spider, reason: str) -> None:
        """After the writer wrote every row (pipelines close before spider_closed): the tasks
        this run still holds go back; after a Ctrl+C those not started end as cancelled."""
        self.stopping = True
        self.slot_freed.set()
        engine = getattr(self, "engine", None)
        if engine is None:
            return
        cancelled = reason == "shutdown"
        state = task_table.CANCELLED if cancelled else task_table.PENDING
        try:
            held = task_table.release(engine, self.owner, state=state)
            waiting = task_table.cancel_pending(engine, self.queue) if cancelled else 0
        except Exception as exc:  # the database is gone: the leases expire by themselves
            self.logger.warning("Could not give back this run's tasks (%s): their leases expire", exc)
            return
        if held or waiting:
            self.logger.info("Stopped: %d tasks in flight and %d not started end as %s", held, waiting, state)
        self.crawler.stats.set_value("links/released", held)
        self.crawler.stats.set_value("links/cancelled", waiting)
        self._report(engine)

    def _report(self, engine: Any) -> None:
        """The run's metrics (for the metrics JSON: run_metrics) and its HTML report, and where
        the results are."""
        log = getattr(self, "tasklog", None)
        if log is None:
            return
        self.metrics = log.metrics()
        log.close()
        with contextlib.suppress(Exception):  # the database is gone: the report goes without counts
            self.metrics["tasks_now"] = task_table.counts(engine, self.queue)
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
        self.logger.info(
            "Batch %s: tasks now %s; results in link_results and link_comments; run report: %s",
            self.batch,
            ", ".join(f"{n} {state}" for state, n in self.metrics.get("tasks_now", {}).items() if n)
            or "unknown",
            path,
        )

    def run_metrics(self) -> dict[str, Any] | None:
        """What the metrics JSON (crawler/extensions/progress.py) adds for this run."""
        metrics = getattr(self, "metrics", None)
        if metrics is None:
            return None
        report = getattr(self, "report_path", None)
        return {**metrics, "report": str(report) if report else None, "batch": self.batch}

    # --- requests, per source -----------------------------------------------------------------

    def _request(self, task: Task, url: str, callback: Any, **kwargs: Any) -> scrapy.Request:
        meta = {"task": task, "handle_httpstatus_list": [403, 404, 410]}
        meta.update(kwargs.pop("meta", {}))
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.task_error,
            meta=meta,
            dont_filter=True,
            priority=10,
            **kwargs,
        )

    def _first_request(self, task: Task) -> scrapy.Request:
        if task.kind in (YOUTUBE, YOUTUBE_COMMENTS):
            # the consent cookie from the start: an EU visitor without it gets the consent page
            return self._request(
                task, youtube.watch_url(task.link_id or ""), self.parse_watch, cookies=youtube.CONSENT_COOKIE
            )
        if task.kind == BILIBILI:
            if task.link_id is None:  # a b23.tv short link: its redirect names the video
                return self._request(
                    task,
                    task.url,
                    self.parse_short_link,
                    meta={"dont_redirect": True, "handle_httpstatus_list": [301, 302, 303, 307, 308, 404]},
                )
            return self._bilibili_view(task, task.link_id)
        if task.kind == REDDIT:
            return self._reddit(task, reddit.thread_url(task.link_id or ""), self.parse_reddit)
        return self._request(task, task.url, self.parse_article, meta={"handle_httpstatus_list": []})

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

    def _outcome(self, task: Task, response: Response, produce: Any) -> Iterator[Any]:
        """Run a source's step: its items and requests, or the task's end when it fails."""
        try:
            yield from produce()
        except TaskFailed as exc:
            yield self._end(task, task_table.FAILED, error=exc.reason, final=exc.final)
        except MalformedResponse as exc:
            yield self._end(task, task_table.FAILED, error=f"{exc} ({response.url})")

    # YouTube ------------------------------------------------------------------------------------

    def parse_watch(self, response: Response) -> Iterator[Any]:
        task: Task = response.meta["task"]
        return self._outcome(task, response, lambda: self._watch(task, response))

    def _watch(self, task: Task, response: Response) -> Iterator[Any]:
        _http_refusal(response, "YouTube")
        html = _text(response)
        try:
            video = youtube.parse_watch(html)
        except youtube.ConsentPage:
            raise TaskFailed("YouTube answered its consent page despite the consent cookie") from None
        if isinstance(video, Refused):
            raise TaskFailed(video.reason)
        if task.kind == YOUTUBE_COMMENTS:
            context = youtube_comments.innertube_context(html)
            if context is None:
                raise MalformedResponse("a watch page without its INNERTUBE_CONTEXT")
            task.state.update(
                context=context, shown=video.comment_count, fetched=0, tokens=deque(), seen=set()
            )
            yield self._next(task, youtube_comments.next_body(context, video_id=video.id), self.parse_section)
            return
        tracks = sorted(video.captions, key=lambda t: t.auto_generated)  # a manual track first
        if not tracks:
            yield video
            yield self._end(task, task_table.COMPLETED, ref=f"youtube:{video.id}")
            return
        task.state["video"] = video
        url = tracks[0].url + ("&" if "?" in tracks[0].url else "?") + "fmt=json3"
        yield self._request(task, url, self.parse_transcript, meta={"track": tracks[0]})

    def parse_transcript(self, response: Response) -> Iterator[Any]:
        task: Task = response.meta["task"]
        return self._outcome(task, response, lambda: self._transcript(task, response))

    def _transcript(self, task: Task, response: Response) -> Iterator[Any]:
        video = task.state.pop("video")
        track = response.meta["track"]
        if response.status == 200 and response.body:
            video.transcript = youtube.parse_transcript(response.body)
            video.transcript_language = track.language
            video.transcript_auto_generated = track.auto_generated
        yield video
        yield self._end(task, task_table.COMPLETED, ref=f"youtube:{video.id}")

    def _next(self, task: Task, body: bytes, callback: Any, parent: str | None = None) -> scrapy.Request:
        client = task.state["context"].get("client") or {}
        return self._request(
            task,
            youtube_comments.NEXT_URL,
            callback,
            method="POST",
            body=body,
            headers={
                "Content-Type": "application/json",
                "X-Youtube-Client-Name": "1",
                "X-Youtube-Client-Version": str(client.get("clientVersion") or ""),
            },
            cookies=youtube.CONSENT_COOKIE,
            meta={"parent": parent, "handle_httpstatus_list": []},
        )

    def parse_section(self, response: Response) -> Iterator[Any]:
        task: Task = response.meta["task"]
        return self._outcome(task, response, lambda: self._section(task, response))

    def _section(self, task: Task, response: Response) -> Iterator[Any]:
        token = youtube_comments.section_token(response.body)
        if token is None or self.params.max_comments == 0:  # comments turned off, or none asked
            yield from self._comments_done(task)
            return
        body = youtube_comments.next_body(task.state["context"], token=token)
        yield self._next(task, body, self.parse_comments)

    def parse_comments(self, response: Response) -> Iterator[Any]:
        task: Task = response.meta["task"]
        return self._outcome(task, response, lambda: self._comments(task, response))

    def _comments(self, task: Task, response: Response) -> Iterator[Any]:
        state = task.state
        parent = response.meta.get("parent")
        page = youtube_comments.parse_page(response.body, task.link_id or "", parent)
        if page.count_shown is not None and parent is None:
            state["shown"] = page.count_shown
        wanted = self.params.sort
        if parent is None and "sorted" not in state and page.sort_tokens:
            state["sorted"] = True
            if wanted != "top" and wanted in page.sort_tokens:
                # the section opens sorted by Top: ask again in the order wanted
                yield self._next(
                    task,
                    youtube_comments.next_body(state["context"], token=page.sort_tokens[wanted]),
                    self.parse_comments,
                )
                return
        for comment in page.comments:
            if state["fetched"] >= self.params.max_comments:
                break
            if comment.id in state["seen"]:  # the pinned comment comes again in Newest order
                continue
            state["seen"].add(comment.id)
            state["fetched"] += 1
            yield comment
        tokens: deque[tuple[str, str | None]] = state["tokens"]
        # replies before the next page: a thread's answers stay together
        for comment_id, token in page.reply_tokens.items():
            tokens.appendleft((token, comment_id))
        if page.next_token:
            tokens.appendleft((page.next_token, parent)) if parent else tokens.append((page.next_token, None))
        if tokens and state["fetched"] < self.params.max_comments:
            token, of = tokens.popleft()
            yield self._next(
                task, youtube_comments.next_body(state["context"], token=token), self.parse_comments, of
            )
            return
        yield from self._comments_done(task)

    def _comments_done(self, task: Task) -> Iterator[Any]:
        video_id = task.link_id or ""
        yield CommentsFetched(
            video_id,
            youtube.watch_url(video_id),
            self.params.sort,
            task.state.get("shown"),
            task.state.get("fetched", 0),
        )
        yield self._end(task, task_table.COMPLETED, ref=f"youtube_comments:{video_id}")

    # Bilibili -----------------------------------------------------------------------------------

    def parse_short_link(self, response: Response) -> Iterator[Any]:
        task: Task = response.meta["task"]
        return self._outcome(task, response, lambda: self._short_link(task, response))

    def _short_link(self, task: Task, response: Response) -> Iterator[Any]:
        location = response.headers.get("Location")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            raise TaskFailed(f"HTTP {response.status}: the short link {task.url} leads nowhere")
        target = response.urljoin(location.decode("latin-1"))
        try:
            found = classify(target, BILIBILI)
        except NotALink:
            raise TaskFailed(f"the short link {task.url} leads to {target}, not a Bilibili video") from None
        if found.id is None:
            raise TaskFailed(f"the short link {task.url} leads to {target}, not a Bilibili video")
        task.link_id = found.id
        yield self._bilibili_view(task, found.id)

    def _bilibili_view(self, task: Task, bvid: str) -> scrapy.Request:
        return self._request(
            task,
            bilibili.view_url(bvid),
            self.parse_bilibili,
            headers=bilibili.HEADERS,
            meta={"slow_down_check": "bilibili", "handle_httpstatus_list": [412]},
        )

    def parse_bilibili(self, response: Response) -> Iterator[Any]:
        task: Task = response.meta["task"]
        return self._outcome(task, response, lambda: self._bilibili(task, response))

    def _bilibili(self, task: Task, response: Response) -> Iterator[Any]:
        if response.status == 412:
            raise TaskFailed("Bilibili risk control (HTTP 412) outlasted the throttle's retries", final=False)
        video = bilibili.parse_view(response.body)
        if isinstance(video, SlowDown):
            raise TaskFailed(f"{video.reason}, past the throttle's retries", final=False)
        if isinstance(video, Refused):
            raise TaskFailed(video.reason)
        yield video
        yield self._end(task, task_table.COMPLETED, ref=f"bilibili:{video.bvid}")

    # Reddit -------------------------------------------------------------------------------------

    def _reddit(
        self, task: Task, url: str, callback: Any, step: str | None = None, root: str | None = None
    ) -> scrapy.Request:
        meta = {"step": step, "root": root}
        return self._request(task, url, callback, headers={"User-Agent": reddit.USER_AGENT}, meta=meta)

    def parse_reddit(self, response: Response) -> Iterator[Any]:
        task: Task = response.meta["task"]
        return self._outcome(task, response, lambda: self._reddit_page(task, response))

    def _reddit_page(self, task: Task, response: Response) -> Iterator[Any]:
        _http_refusal(response, "Reddit")
        thread_id = task.link_id or ""
        first = "more" not in task.state
        offset = 0
        if first:
            page = reddit.parse_thread(response.body)
            task.state.update(more=deque(), continued=deque(), fetched=0, seen=set(), depths={})
            yield page.post
        elif response.meta.get("step") == "more":
            page = reddit.parse_more(response.body, thread_id)
        else:
            # a continued thread's page counts depths from its own first comment, whose depth
            # in the whole thread is known from the page that had its stub
            page = reddit.parse_thread(response.body)
            offset = task.state["depths"].get(response.meta.get("root")) or 0
        state = task.state
        depths: dict[str, int | None] = state["depths"]
        for comment in page.comments:
            if comment.depth is not None:
                comment.depth += offset
            elif comment.parent_id.startswith("t3_"):
                comment.depth = 0
            else:  # an older morechildren answer, which gives no depth: its parent's and one
                parent = depths.get(comment.parent_id.removeprefix("t1_"))
                comment.depth = parent + 1 if parent is not None else None
            depths.setdefault(comment.id, comment.depth)
            if comment.id in state["seen"] or state["fetched"] >= self.params.max_comments:
                continue
            state["seen"].add(comment.id)
            state["fetched"] += 1
            yield comment
        for ids in page.more:
            for start in range(0, len(ids), reddit.MORE_PER_CALL):
                state["more"].append(ids[start : start + reddit.MORE_PER_CALL])
        state["continued"].extend(page.continued)
        if state["fetched"] < self.params.max_comments:
            if state["more"]:
                url = reddit.more_url(thread_id, state["more"].popleft())
                yield self._reddit(task, url, self.parse_reddit, "more")
                return
            if state["continued"]:
                root = state["continued"].popleft()
                yield self._reddit(
                    task, reddit.continued_url(thread_id, root), self.parse_reddit, "continued", root
                )
                return
        yield self._end(task, task_table.COMPLETED, ref=f"reddit:{thread_id}")

    # Articles -----------------------------------------------------------------------------------

    def parse_article(self, response: Response) -> Iterator[Any]:
        task: Task = response.meta["task"]
        return self._outcome(task, response, lambda: self._article(task, response))

    def _article(self, task: Task, response: Response) -> Iterator[Any]:
        content_type = (response.headers.get("Content-Type") or b"").decode("latin-1") or None
        refused = articles.refuse_content_type(content_type)
        if refused is not None or not isinstance(response, TextResponse):
            raise TaskFailed((refused or Refused("not a text answer")).reason + f" ({response.url})")
        language = (response.headers.get("Content-Language") or b"").decode("latin-1") or None
        article = articles.parse_article(response.url, response.text, content_language=language)
        if isinstance(article, Refused):
            raise TaskFailed(f"{article.reason} ({response.url})")
        yield article
        yield self._end(task, task_table.COMPLETED, ref=f"article:{article.url}")


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


def _text(response: Response) -> str:
    return response.text if isinstance(response, TextResponse) else response.body.decode("utf-8", "replace")


def _http_refusal(response: Response, site: str) -> None:
    """A 403/404/410 is the site's last word on the link, in its own words when it gives them."""
    if response.status < 400:
        return
    said = ""
    try:
        answer = json.loads(response.body)
        if isinstance(answer, dict):
            said = ": " + " ".join(str(answer[k]) for k in ("reason", "message") if answer.get(k))
    except ValueError:
        pass
    raise TaskFailed(f"{site} HTTP {response.status}{said if said != ': ' else ''} ({response.url})")
