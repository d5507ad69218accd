"""The task table: what is left to do of a queue's batch, and who is doing what, in the database.

Generic on purpose: `links` keeps one row per link; `flashcards` (one per vocabulary item) and
`jdpower` (one per vehicle) can move onto it. A task is identified by (queue, batch, key).

Who does a task rests on leases, not on a host and pid: `claim` takes a task for `owner` until
its lease expires (a run renews the leases it holds while it works), and a task whose lease has
expired is anyone's to claim again: a run killed with `kill -9` leaves its tasks to the next
one. Every change is one conditional UPDATE, so of two claims only one wins, and of two
completions only the lease holder's counts.

Blocking functions, each one short transaction, the same on SQLite and PostgreSQL: call them
from a worker thread (through crawler/db/outage.py's Outage.run, which waits out an outage).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, and_, func, or_, select, update

from crawler.db.engine import upsert_insert
from crawler.db.models import Task

PENDING, PROCESSING, COMPLETED, FAILED, CANCELLED = (
    "pending",
    "processing",
    "completed",
    "failed",
    "cancelled",
)
STATES = (PENDING, PROCESSING, COMPLETED, FAILED, CANCELLED)


@dataclass(frozen=True)
class NewTask:
    key: str
    kind: str | None = None
    url: str | None = None
    payload: str | None = None  # JSON


@dataclass(frozen=True)
class Queue:
    """One queue's batch: (queue, batch) as every function takes them."""

    name: str
    batch: str

    def where(self, *more: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(Task.queue == self.name, Task.batch == self.batch, *more)


def _now() -> datetime:
    return datetime.now(UTC)


def add(engine: Engine, queue: Queue, tasks: Iterable[NewTask]) -> int:
    """Add tasks; a key already there keeps its row (state, attempts, result). How many were new."""
    now = _now()
    rows = [
        {
            "queue": queue.name,
            "batch": queue.batch,
            "key": task.key,
            "kind": task.kind,
            "url": task.url,
            "payload": task.payload,
            "state": PENDING,
            "attempts": 0,
            "created_at": now,
        }
        for task in {task.key: task for task in tasks}.values()  # one row per key per statement
    ]
    if not rows:
        return 0
    statement = upsert_insert(engine)(Task).on_conflict_do_nothing(index_elements=["queue", "batch", "key"])
    with engine.begin() as conn:
        # the rows RETURNING gives back are the new ones (an executemany's rowcount is not
        # reliable across drivers)
        return len(conn.execute(statement.returning(Task.id), rows).all())


def _claimable(retry_failed: bool, now: datetime) -> ColumnElement[bool]:
    """Pending and cancelled tasks (failed ones too with `retry_failed`), and an expired lease's."""
    states = (PENDING, CANCELLED, FAILED) if retry_failed else (PENDING, CANCELLED)
    return or_(Task.state.in_(states), and_(Task.state == PROCESSING, Task.lease_expires_at < now))


def _taken(owner: str, lease_s: float, now: datetime, slot: int | None) -> dict[str, Any]:
    """What a claim writes: the task held by `owner` until its lease expires, one more attempt."""
    return {
        "state": PROCESSING,
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_s),
        "attempts": Task.attempts + 1,
        "started_at": now,
        "worker_slot": slot,
        "error": None,
    }


def to_do(
    engine: Engine, queue: Queue, *, after: int = 0, limit: int = 1000, retry_failed: bool = False
) -> list[Any]:
    """Up to `limit` tasks a claim would take now (pending, cancelled, an expired lease's; failed
    ones too with `retry_failed`), by id after `after`: pages a caller can walk."""
    query = (
        select(Task.id, Task.key, Task.kind, Task.url, Task.payload, Task.attempts)
        .where(queue.where(Task.id > after, _claimable(retry_failed, _now())))
        .order_by(Task.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return list(conn.execute(query))


def claim(
    engine: Engine,
    queue: Queue,
    key: str,
    owner: str,
    lease_s: float,
    *,
    slot: int | None = None,
    retry_failed: bool = False,
) -> bool:
    """Take the task for `owner` for `lease_s` seconds; False when it is done or someone holds it."""
    now = _now()
    statement = (
        update(Task)
        .where(queue.where(Task.key == key, _claimable(retry_failed, now)))
        .values(**_taken(owner, lease_s, now, slot))
    )
    with engine.begin() as conn:
        return conn.execute(statement).rowcount == 1


def claim_next(
    engine: Engine,
    queue: Queue,
    owner: str,
    lease_s: float,
    *,
    after: int = 0,
    limit: int = 1,
    retry_failed: bool = False,
    not_started_since: datetime | None = None,
) -> list[Any]:
    """Take up to `limit` tasks, the first claimable ones by id after `after`, for `owner`, in one
    transaction: the rows taken (id, key, kind, url, payload, attempts). Of two runs claiming at
    once, each task goes to one (the UPDATE is conditional on it still being claimable).
    `not_started_since` leaves out tasks started since then: a run does not take again what it
    gave back itself (a site's risk control that outlasted the throttle), the next run does."""
    now = _now()
    conditions = [Task.id > after, Task.kind.is_not(None), _claimable(retry_failed, now)]
    if not_started_since is not None:
        conditions.append(or_(Task.started_at.is_(None), Task.started_at < not_started_since))
    candidates = select(Task.id).where(queue.where(*conditions)).order_by(Task.id).limit(limit)
    with engine.begin() as conn:
        ids = list(conn.execute(candidates).scalars())
        if not ids:
            return []
        statement = (
            update(Task)
            .where(Task.id.in_(ids), _claimable(retry_failed, now))
            .values(**_taken(owner, lease_s, now, None))  # the slot is written with the task's end
            .returning(Task.id, Task.key, Task.kind, Task.url, Task.payload, Task.attempts)
        )
        return sorted(conn.execute(statement).all(), key=lambda row: row.id)


def _held(queue: Queue, key: str, owner: str) -> ColumnElement[bool]:
    return queue.where(Task.key == key, Task.state == PROCESSING, Task.lease_owner == owner)


def complete(
    engine: Engine,
    queue: Queue,
    key: str,
    owner: str,
    result_ref: str | None = None,
    *,
    slot: int | None = None,
) -> bool:
    """The task is done, by `owner`, which holds it (in worker `slot`, when given); False (and
    nothing changed) otherwise: its lease expired and another took it, or it is done already."""
    values: dict[str, Any] = {
        "state": COMPLETED,
        "result_ref": result_ref,
        "finished_at": _now(),
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if slot is not None:
        values["worker_slot"] = slot
    statement = update(Task).where(_held(queue, key, owner)).values(**values)
    with engine.begin() as conn:
        return conn.execute(statement).rowcount == 1


def fail(
    engine: Engine,
    queue: Queue,
    key: str,
    owner: str,
    error: str,
    *,
    final: bool = True,
    slot: int | None = None,
) -> bool:
    """The try failed: for good (`final`, the task ends failed with `error`), or to be tried
    again by a later claim (back to pending, `error` kept). Only the lease holder's counts."""
    values: dict[str, Any] = {"error": error, "lease_owner": None, "lease_expires_at": None}
    if slot is not None:
        values["worker_slot"] = slot
    if final:
        values.update(state=FAILED, finished_at=_now())
    else:
        values.update(state=PENDING)
    with engine.begin() as conn:
        return conn.execute(update(Task).where(_held(queue, key, owner)).values(**values)).rowcount == 1


def release(engine: Engine, owner: str, *, state: str = PENDING) -> int:
    """Give back every task `owner` holds (a stop), as `state` (pending, or cancelled): how many."""
    statement = (
        update(Task)
        .where(Task.state == PROCESSING, Task.lease_owner == owner)
        .values(state=state, lease_owner=None, lease_expires_at=None)
    )
    with engine.begin() as conn:
        return conn.execute(statement).rowcount


def cancel_pending(engine: Engine, queue: Queue) -> int:
    """Tasks not started end as cancelled for this run (one Ctrl+C); the next run takes them."""
    with engine.begin() as conn:
        return conn.execute(
            update(Task).where(queue.where(Task.state == PENDING)).values(state=CANCELLED)
        ).rowcount


def renew(engine: Engine, owner: str, lease_s: float) -> int:
    """Extend the leases `owner` still holds by `lease_s` from now: how many."""
    statement = (
        update(Task)
        .where(Task.state == PROCESSING, Task.lease_owner == owner)
        .values(lease_expires_at=_now() + timedelta(seconds=lease_s))
    )
    with engine.begin() as conn:
        return conn.execute(statement).rowcount


def counts(engine: Engine, queue: Queue) -> dict[str, int]:
    """Tasks per state (every state listed, 0 included)."""
    query = select(Task.state, func.count()).where(queue.where()).group_by(Task.state)
    with engine.connect() as conn:
        found = {state: int(n) for state, n in conn.execute(query)}
    return {state: found.get(state, 0) for state in STATES}


def refuse(engine: Engine, queue: Queue, refusals: Iterable[tuple[str, str]]) -> list[str]:
    """Tasks that cannot be done as given (links that are not ones), as (key, error): each
    failed with its error, unless done already, in one transaction. The keys refused."""
    now = _now()
    refused = []
    with engine.begin() as conn:
        for key, error in refusals:
            statement = (
                update(Task)
                .where(queue.where(Task.key == key, Task.state.in_((PENDING, CANCELLED, FAILED))))
                .values(
                    state=FAILED, error=error, finished_at=now, started_at=func.coalesce(Task.started_at, now)
                )
            )
            if conn.execute(statement).rowcount == 1:
                refused.append(key)
    return refused


def held_elsewhere(engine: Engine, queue: Queue, owner: str) -> float | None:
    """Seconds until the first lease another owner holds on this batch expires (None: no other
    holds any): a run that finds nothing left to claim waits that long for a dead run's tasks."""
    query = select(func.min(Task.lease_expires_at)).where(
        queue.where(Task.state == PROCESSING, Task.lease_owner != owner)
    )
    with engine.connect() as conn:
        first = conn.execute(query).scalar()
    if first is None:
        return None
    if first.tzinfo is None:  # SQLite gives back naive datetimes
        first = first.replace(tzinfo=UTC)
    return max(0.0, (first - _now()).total_seconds())
