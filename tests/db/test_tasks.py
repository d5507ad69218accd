"""The task table (crawler/db/tasks.py) on SQLite and PostgreSQL: adding streams of tasks, claims
with expiring leases, one completion per task, failures counted, stops."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from sqlalchemy import text

from crawler.db.tasks import (
    CANCELLED,
    COMPLETED,
    FAILED,
    PENDING,
    PROCESSING,
    NewTask,
    Queue,
    add,
    cancel_pending,
    claim,
    claim_next,
    complete,
    counts,
    fail,
    held_elsewhere,
    refuse,
    release,
    renew,
    to_do,
)

LINKS = Queue("links", "batch-1")


def _state(engine, key: str) -> tuple:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT state, attempts, error, result_ref, lease_owner FROM tasks WHERE key = :k"),
            {"k": key},
        ).one()


def test_adding_keeps_what_is_there_and_walks_in_pages(engine) -> None:
    assert add(engine, LINKS, [NewTask(str(i), "article", f"https://example.com/{i}") for i in range(5)]) == 5
    assert claim(engine, LINKS, "0", "run-a", 60)
    assert complete(engine, LINKS, "0", "run-a", "articles:0")
    # the same batch read again (a second run): nothing new, the done one stays done
    assert add(engine, LINKS, [NewTask(str(i), "article") for i in range(7)]) == 2
    assert _state(engine, "0")[0] == COMPLETED
    assert add(engine, Queue("links", "batch-2"), [NewTask("0")]) == 1  # another batch, its own
    first = to_do(engine, LINKS, limit=3)
    rest = to_do(engine, LINKS, after=first[-1].id)
    assert [t.key for t in first + rest] == ["1", "2", "3", "4", "5", "6"]
    assert counts(engine, LINKS) == {PENDING: 6, PROCESSING: 0, COMPLETED: 1, FAILED: 0, CANCELLED: 0}


def test_one_claim_wins_and_only_the_lease_holder_completes(engine) -> None:
    add(engine, LINKS, [NewTask("a")])
    assert claim(engine, LINKS, "a", "run-a", 60, slot=3)
    assert not claim(engine, LINKS, "a", "run-b", 60)  # held
    assert not complete(engine, LINKS, "a", "run-b")  # not the holder
    assert complete(engine, LINKS, "a", "run-a", "videos:a")
    assert not complete(engine, LINKS, "a", "run-a")  # done once
    assert not claim(engine, LINKS, "a", "run-b", 60)
    assert _state(engine, "a") == (COMPLETED, 1, None, "videos:a", None)


def test_an_expired_lease_is_anyones_and_its_late_holder_cannot_complete(engine) -> None:
    add(engine, LINKS, [NewTask("k")])
    assert claim(engine, LINKS, "k", "killed-run", 0.2)  # then kill -9: it never completes
    time.sleep(0.4)
    assert [t.key for t in to_do(engine, LINKS)] == ["k"]
    assert claim(engine, LINKS, "k", "next-run", 60)
    assert not complete(engine, LINKS, "k", "killed-run")  # came back too late: not counted
    assert complete(engine, LINKS, "k", "next-run")
    assert _state(engine, "k")[:2] == (COMPLETED, 2)


def test_renewed_leases_are_kept(engine) -> None:
    add(engine, LINKS, [NewTask("long")])
    assert claim(engine, LINKS, "long", "run-a", 0.3)
    assert renew(engine, "run-a", 60) == 1
    time.sleep(0.5)
    assert not claim(engine, LINKS, "long", "run-b", 60)


def test_failures_count_attempts_and_end_failed_or_pending(engine) -> None:
    add(engine, LINKS, [NewTask("x"), NewTask("y")])
    assert claim(engine, LINKS, "x", "run-a", 60)
    assert fail(engine, LINKS, "x", "run-a", "HTTP 503", final=False)  # to be tried again
    assert claim(engine, LINKS, "x", "run-a", 60)
    assert fail(engine, LINKS, "x", "run-a", "private video")
    assert _state(engine, "x") == (FAILED, 2, "private video", None, None)
    assert not claim(engine, LINKS, "x", "run-b", 60)  # failed stays failed...
    assert claim(engine, LINKS, "x", "run-b", 60, retry_failed=True)  # ...unless asked
    assert _state(engine, "x")[:3] == (PROCESSING, 3, None)


def test_a_stop_releases_held_tasks_and_cancels_those_not_started(engine) -> None:
    add(engine, LINKS, [NewTask(k) for k in "abcd"])
    assert claim(engine, LINKS, "a", "run-a", 60) and claim(engine, LINKS, "b", "run-a", 60)
    assert complete(engine, LINKS, "a", "run-a")
    assert cancel_pending(engine, LINKS) == 2  # c and d: not started this run
    assert release(engine, "run-a") == 1  # b: under way when the run stopped
    assert counts(engine, LINKS) == {PENDING: 1, PROCESSING: 0, COMPLETED: 1, FAILED: 0, CANCELLED: 2}
    assert sorted(t.key for t in to_do(engine, LINKS)) == ["b", "c", "d"]  # the next run's


def test_two_workers_finishing_one_task_at_the_same_instant_complete_it_once(engine) -> None:
    add(engine, LINKS, [NewTask(str(i)) for i in range(40)])
    wins: list[tuple[str, str]] = []
    start = threading.Barrier(2)

    def worker(owner: str) -> None:
        start.wait()
        for i in range(40):
            if claim(engine, LINKS, str(i), owner, 60) and complete(engine, LINKS, str(i), owner):
                wins.append((owner, str(i)))

    threads = [threading.Thread(target=worker, args=(owner,)) for owner in ("w1", "w2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(key for _, key in wins) == sorted(str(i) for i in range(40))  # each once
    with engine.connect() as conn:
        assert conn.execute(text("SELECT max(attempts) FROM tasks")).scalar() == 1


def test_claiming_several_at_once_two_runs_never_share_one(engine) -> None:
    add(engine, LINKS, [NewTask(str(i), "article") for i in range(60)] + [NewTask("not-a-link", None)])
    taken: dict[str, list[str]] = {"w1": [], "w2": []}
    start = threading.Barrier(2)

    def worker(owner: str) -> None:
        start.wait()
        while rows := claim_next(engine, LINKS, owner, 60, limit=7):
            taken[owner] += [row.key for row in rows]
            for row in rows:
                assert complete(engine, LINKS, row.key, owner, slot=3)

    threads = [threading.Thread(target=worker, args=(owner,)) for owner in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken["w1"] + taken["w2"], key=int) == [str(i) for i in range(60)]  # each once
    assert "not-a-link" not in taken["w1"] + taken["w2"]  # a task without a kind is never claimed
    with engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT worker_slot FROM tasks WHERE kind IS NOT NULL")).all() == [
            (3,)
        ]


def test_claims_go_on_after_an_id_and_take_expired_leases_back(engine) -> None:
    add(engine, LINKS, [NewTask(str(i), "article") for i in range(5)])
    first = claim_next(engine, LINKS, "killed-run", 0.2, limit=2)
    assert [row.key for row in first] == ["0", "1"]
    assert [row.key for row in claim_next(engine, LINKS, "run-b", 60, after=first[-1].id, limit=10)] == [
        "2",
        "3",
        "4",
    ]
    assert claim_next(engine, LINKS, "run-b", 60) == []  # 0 and 1 are held
    assert held_elsewhere(engine, LINKS, "run-b") is not None
    time.sleep(0.3)
    again = claim_next(engine, LINKS, "run-b", 60, limit=10)
    assert [(row.key, row.attempts) for row in again] == [("0", 2), ("1", 2)]
    assert held_elsewhere(engine, LINKS, "run-b") is None


def test_a_run_does_not_take_again_what_it_gave_back_itself(engine) -> None:
    add(engine, LINKS, [NewTask("risky", "bilibili"), NewTask("other", "bilibili")])
    began = datetime.now(UTC)
    (row,) = claim_next(engine, LINKS, "run-a", 60, not_started_since=began)
    assert row.key == "risky"
    assert fail(engine, LINKS, "risky", "run-a", "risk control outlasted the retries", final=False)
    # pending again, but this run started it: only "other" is left for it; the next run takes both
    assert [r.key for r in claim_next(engine, LINKS, "run-a", 60, limit=5, not_started_since=began)] == [
        "other"
    ]
    assert [r.key for r in claim_next(engine, LINKS, "run-b", 60, limit=5)] == ["risky"]


def test_links_that_are_not_ones_are_refused_together_but_a_done_one_stays_done(engine) -> None:
    add(engine, LINKS, [NewTask("bad-1"), NewTask("bad-2"), NewTask("done", "article")])
    assert claim(engine, LINKS, "done", "run-a", 60) and complete(engine, LINKS, "done", "run-a")
    refusals = [("bad-1", "file: is not fetched"), ("bad-2", "no host"), ("done", "changed its mind")]
    assert refuse(engine, LINKS, refusals) == ["bad-1", "bad-2"]
    assert _state(engine, "bad-1")[:3] == (FAILED, 0, "file: is not fetched")
    assert _state(engine, "done")[0] == COMPLETED
