"""The jdpower tracking table: what a run may download, and that no vehicle is taken twice."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from crawler.db.models import Vehicle
from crawler.db.vehicles import (
    SeenVehicle,
    claim,
    counts,
    done_refs,
    mark_done,
    mark_failed,
    record_attempt,
    record_seen,
    release_claims,
    release_dead_claims,
)


def _seen(engine, *refs: str) -> None:  # type: ignore[no-untyped-def]
    record_seen(engine, [SeenVehicle(ref, f"2019 Toyota Camry {ref}", "1HGCM82633A004352") for ref in refs])


def _row(engine, ref: str) -> Vehicle:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(select(Vehicle).where(Vehicle.ref == ref)).one()


def test_a_done_vehicle_is_never_claimed_again(engine) -> None:
    _seen(engine, "JDP-1", "JDP-2")
    assert claim(engine, "JDP-1", "run-a")
    record_attempt(engine, "JDP-1", "run-a", None)
    assert mark_done(
        engine, "JDP-1", "run-a", path="d/run-1/JDP-1.pdf", size=100, sha256="ab" * 32, run="d/run-1"
    )
    assert not claim(engine, "JDP-1", "run-b")
    assert not claim(engine, "JDP-1", "run-a")
    assert done_refs(engine, ["JDP-1", "JDP-2", "JDP-3"]) == {"JDP-1"}
    _seen(engine, "JDP-1")  # seen again in a later inventory: stays done
    row = _row(engine, "JDP-1")
    assert (row.status, row.attempts, row.pdf_path, row.size) == ("done", 1, "d/run-1/JDP-1.pdf", 100)
    assert counts(engine) == {"done": 1, "pending": 1}


def test_of_many_claimers_exactly_one_wins(engine) -> None:
    _seen(engine, "JDP-9")
    wins: list[str] = []
    barrier = threading.Barrier(8)

    def contend(name: str) -> None:
        barrier.wait()
        if claim(engine, "JDP-9", name):
            wins.append(name)

    threads = [threading.Thread(target=contend, args=(f"ctx-{n}",)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_a_killed_runs_claim_goes_stale_and_a_clean_stop_releases_it(engine) -> None:
    _seen(engine, "JDP-5", "JDP-6")
    assert claim(engine, "JDP-5", "killed-run")
    assert not claim(engine, "JDP-5", "next-run")  # fresh claim: another run may be at work
    assert claim(engine, "JDP-5", "next-run", stale_after=timedelta(0))  # stale: taken over
    assert claim(engine, "JDP-6", "stopped-run")
    assert release_claims(engine, "stopped-run") == 1
    assert _row(engine, "JDP-6").status == "pending"
    assert claim(engine, "JDP-6", "next-run")


def test_failed_vehicles_keep_the_error_and_are_tried_by_a_later_run(engine) -> None:
    _seen(engine, "JDP-7")
    assert claim(engine, "JDP-7", "run-a")
    record_attempt(engine, "JDP-7", "run-a", "not a PDF: login page")
    record_attempt(engine, "JDP-7", "run-a", "timeout")
    mark_failed(engine, "JDP-7", "run-a", "timeout")
    row = _row(engine, "JDP-7")
    assert (row.status, row.attempts, row.error) == ("failed", 2, "timeout")
    assert claim(engine, "JDP-7", "run-b")


def test_claims_of_a_dead_run_on_this_host_are_released_at_once(engine) -> None:
    _seen(engine, "JDP-20", "JDP-21", "JDP-22")
    assert claim(engine, "JDP-20", "here:4242:1")  # killed
    assert claim(engine, "JDP-21", "here:77:1")  # still running
    assert claim(engine, "JDP-22", "elsewhere:4242:1")  # another machine: only staleness tells
    assert release_dead_claims(engine, "here", alive=lambda pid: pid != 4242) == 1
    assert claim(engine, "JDP-20", "here:99:2")
    assert not claim(engine, "JDP-21", "here:99:2")
    assert not claim(engine, "JDP-22", "here:99:2")
