"""A worker pool over the task table: claims a queue's tasks under leases and starts each when
one of `workers` slots is free, for any spider whose work is a batch of tasks (`links` today;
`flashcards` and `jdpower` can use it as they move onto the task table).

Tasks are claimed a few at a time ahead of the workers, in the background, so that a worker
that frees up starts the next task at once instead of waiting for a claim's transaction. The
leases this run holds are renewed while it runs; when nothing is left to claim but another run
holds tasks of the batch (running beside this one, or killed with its leases not yet expired),
the pool looks again every few seconds until they are done or taken over. At the end the tasks
still held go back: as cancelled after a Ctrl+C, with those not started, so that the same
command later finishes them, else as pending. Database calls run off the reactor thread and
wait out outages (crawler/db/outage.py).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crawler.db import tasks as task_table
from crawler.db.outage import DatabaseUnavailable, Outage

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from sqlalchemy import Engine

    from crawler.tasklog import TaskLog

logger = logging.getLogger(__name__)

_HELD_POLL_S = 2.0  # how often a pool with nothing to claim looks at what another run holds


class TaskPool:
    def __init__(
        self,
        crawler: Crawler,
        engine: Engine,
        queue: task_table.Queue,
        owner: str,
        tasklog: TaskLog,
        *,
        retry_failed: bool = False,
    ) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.engine = engine
        self.queue = queue
        self.owner = owner
        self.tasklog = tasklog
        self.retry_failed = retry_failed
        self.workers = settings.getint("CONCURRENT_REQUESTS")
        self.lease_s = settings.getfloat("TASKS_LEASE_S")
        self.outage = Outage.of(crawler)
        self.stopping = False
        self._free = list(range(self.workers))
        self._freed = asyncio.Event()
        self._after = 0  # claims go on from this task id
        self._position = 0
        self._told_waiting = False
        self._began = datetime.now(UTC)  # tasks this run started and gave back wait for the next

    async def run(self, start: Callable[[Any, int], None], stopping: Callable[[], bool]) -> None:
        """Claim tasks and `start(row, slot)` each while a worker is free, until none is left
        to claim or `stopping()` says so. `row` has the task's id, key, kind, url, payload."""
        renewing = asyncio.ensure_future(self._renew_leases())
        try:
            await self._run(start, stopping)
        finally:
            renewing.cancel()

    async def _run(self, start: Callable[[Any, int], None], stopping: Callable[[], bool]) -> None:
        ahead = max(2, self.workers // 2)
        buffer: deque[Any] = deque()
        refill: asyncio.Future[list[Any]] | None = None
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
            if self.stopping or stopping():
                self.stopping = True
                break
            start(buffer.popleft(), slot)
            if refill is None and len(buffer) < ahead:
                refill = asyncio.ensure_future(self._claim(ahead))
        if refill is not None:
            await refill  # claimed: given back with the rest at close

    def free(self, slot: int) -> None:
        """A task of this slot ended: its worker takes the next."""
        heapq.heappush(self._free, slot)
        self._freed.set()

    async def _free_slot(self) -> int:
        while not self._free and not self.stopping:
            self._freed.clear()
            await self._freed.wait()
        return heapq.heappop(self._free) if self._free else -1

    async def _claim(self, limit: int) -> list[Any]:
        rows = await self.outage.run(
            lambda after=self._after: task_table.claim_next(
                self.engine,
                self.queue,
                self.owner,
                self.lease_s,
                after=after,
                limit=limit,
                retry_failed=self.retry_failed,
                not_started_since=self._began,
            )
        )
        if rows:
            self._after = max(self._after, rows[-1].id)
            for row in rows:
                self._position += 1
                self.tasklog.pending(row.key, row.kind or "", self._position)
        return list(rows)

    async def _wait_for_others(self) -> bool:
        """With nothing to claim: whether another run holds tasks of the batch, after waiting a
        little for them; False when none is held."""
        wait = await self.outage.run(task_table.held_elsewhere, self.engine, self.queue, self.owner)
        self.tasklog.queued(0)  # nothing this run can claim now
        if wait is None:
            return False
        if not self._told_waiting:
            self._told_waiting = True
            logger.info("Tasks held by another run: waiting for it, or for its leases to expire")
        await asyncio.sleep(min(wait + 0.5, _HELD_POLL_S))
        self._after = 0
        return not self.stopping

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.outage.run(task_table.renew, self.engine, self.owner, self.lease_s)
            except DatabaseUnavailable:
                continue  # the writer gives up for the crawl; leases expire and are taken again

    def stop(self) -> None:
        self.stopping = True
        self._freed.set()

    def give_back(self, *, cancelled: bool) -> tuple[int, int]:
        """The tasks this run holds go back (as cancelled after a Ctrl+C, with the batch's
        tasks not started): (held, not started). Blocking: at close, after the writer."""
        state = task_table.CANCELLED if cancelled else task_table.PENDING
        held = task_table.release(self.engine, self.owner, state=state)
        waiting = task_table.cancel_pending(self.engine, self.queue) if cancelled else 0
        return held, waiting
