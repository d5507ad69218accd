"""The jdpower spider's tracking table: what the inventory holds and which reports are saved.

Every function is one short transaction, safe to call from a worker thread, and works the same
on SQLite and PostgreSQL. "Never downloaded twice" rests on `claim`: one conditional UPDATE,
so of two contexts or two runs asking for the same vehicle, exactly one gets it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from crawler.db.engine import upsert_insert
from crawler.db.models import Vehicle

DONE, PENDING, DOWNLOADING, FAILED = "done", "pending", "downloading", "failed"


@dataclass(frozen=True)
class SeenVehicle:
    ref: str
    description: str
    vin: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def record_seen(engine: Engine, vehicles: Iterable[SeenVehicle]) -> None:
    """Add vehicles from the inventory; those already known keep their status."""
    rows: list[dict[str, Any]] = [
        {"ref": v.ref, "description": v.description, "vin": v.vin} for v in vehicles
    ]
    if not rows:
        return
    now = _now()
    for row in rows:
        row.update(status=PENDING, attempts=0, first_seen_at=now, updated_at=now)
    insert = upsert_insert(engine)
    statement = insert(Vehicle).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[Vehicle.ref],
        set_={"description": statement.excluded.description, "vin": statement.excluded.vin},
    )
    with engine.begin() as conn:
        conn.execute(statement)


def done_refs(engine: Engine, refs: Iterable[str]) -> set[str]:
    wanted = list(refs)
    done: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            query = select(Vehicle.ref).where(
                Vehicle.ref.in_(wanted[start : start + 500]), Vehicle.status == DONE
            )
            done.update(conn.scalars(query))
    return done


def claim(engine: Engine, ref: str, claimer: str, stale_after: timedelta = timedelta(minutes=30)) -> bool:
    """Take `ref` for download; False when it is done or another claimer holds a fresh claim.
    A claim older than `stale_after` (its run was killed) can be taken over."""
    now = _now()
    statement = (
        update(Vehicle)
        .where(
            Vehicle.ref == ref,
            Vehicle.status != DONE,
            or_(
                Vehicle.status != DOWNLOADING,
                Vehicle.claimed_by == claimer,
                Vehicle.claimed_at.is_(None),
                Vehicle.claimed_at < now - stale_after,
            ),
        )
        .values(status=DOWNLOADING, claimed_by=claimer, claimed_at=now, updated_at=now)
    )
    with engine.begin() as conn:
        return conn.execute(statement).rowcount == 1


def record_attempt(engine: Engine, ref: str, claimer: str, error: str | None) -> None:
    """One more try of `ref`, failed with `error` (None: the try is under way)."""
    with engine.begin() as conn:
        conn.execute(
            update(Vehicle)
            .where(Vehicle.ref == ref, Vehicle.claimed_by == claimer)
            .values(attempts=Vehicle.attempts + 1, error=error, updated_at=_now())
        )


def mark_done(engine: Engine, ref: str, claimer: str, *, path: str, size: int, sha256: str, run: str) -> bool:
    now = _now()
    with engine.begin() as conn:
        result = conn.execute(
            update(Vehicle)
            .where(Vehicle.ref == ref, Vehicle.status != DONE)
            .values(
                status=DONE,
                pdf_path=path,
                size=size,
                sha256=sha256,
                run=run,
                error=None,
                claimed_by=None,
                claimed_at=None,
                downloaded_at=now,
                updated_at=now,
            )
        )
        return result.rowcount == 1


def mark_failed(engine: Engine, ref: str, claimer: str, error: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Vehicle)
            .where(Vehicle.ref == ref, Vehicle.claimed_by == claimer, Vehicle.status != DONE)
            .values(status=FAILED, error=error, claimed_by=None, claimed_at=None, updated_at=_now())
        )


def release_claims(engine: Engine, claimer: str) -> int:
    """At the end of a run: vehicles it claimed but did not finish go back to pending."""
    with engine.begin() as conn:
        result = conn.execute(
            update(Vehicle)
            .where(and_(Vehicle.claimed_by == claimer, Vehicle.status == DOWNLOADING))
            .values(status=PENDING, claimed_by=None, claimed_at=None, updated_at=_now())
        )
        return result.rowcount


def counts(engine: Engine) -> dict[str, int]:
    from sqlalchemy import func

    with engine.connect() as conn:
        return dict(conn.execute(select(Vehicle.status, func.count()).group_by(Vehicle.status)).all())


def release_dead_claims(engine: Engine, host: str, alive: Callable[[int], bool]) -> int:
    """Claims of runs on `host` whose process is gone (a kill -9, a crash) go back to pending at
    once, so the next run does not wait for them to go stale. Claimers are `host:pid:start`."""
    with engine.connect() as conn:
        claimers = list(
            conn.scalars(select(Vehicle.claimed_by).where(Vehicle.status == DOWNLOADING).distinct())
        )
    released = 0
    for claimer in claimers:
        parts = (claimer or "").split(":")
        if (
            claimer
            and len(parts) >= 2
            and parts[0] == host
            and parts[1].isdigit()
            and not alive(int(parts[1]))
        ):
            released += release_claims(engine, claimer)
    return released
