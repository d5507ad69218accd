"""Benchmark: `kill -9` a `links` crawl at a random moment, run the same command again, count.

    python bench/links_crash.py [--links 400] [--rounds 3] [--seed N]

Each round crawls a mixed batch (bench/links.py's, at its per-type latencies) into a fresh
database, kills the crawl process with SIGKILL at a random moment between 10% and 90% of its
expected run, then runs the same command until it ends. The killed run's leases are what the
next run waits for: `-s TASKS_LEASE_S=10` here, so the bench does not wait the default 120 s.
Checked per round: every task ended (completed or failed), every completed task's result is
in link_results once (its primary key) and every result belongs to a completed task, no task
completed twice (each task's completions across both runs' progress files), and how many
pages the second run fetched again (those in flight at the kill).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, SCRAPY, links_crawl_args, links_task_states, save_results
from bench.links import LATENCY_MS, MAX_COMMENTS, mixed_batch
from sandbox.process import SandboxProcess


def argv(batch: Path, work: Path, sandbox_url: str, run: int) -> list[str]:
    more = ("-a", f"max_comments={MAX_COMMENTS}", "-s", "TASKS_LEASE_S=10",
            "-s", f"PROGRESS_FILE={work / f'progress{run}.jsonl'}")  # fmt: skip
    return [SCRAPY, "crawl", *links_crawl_args(batch, work / "links.sqlite3", sandbox_url, 8, *more)]


def check(work: Path, links: int) -> dict[str, int]:
    with sqlite3.connect(work / "links.sqlite3") as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall())
        refs = [ref for (ref,) in conn.execute("SELECT result_ref FROM tasks WHERE state = 'completed'")]
        results = {kind + ":" + id_ for kind, id_ in conn.execute("SELECT kind, id FROM link_results")}
    completions: Counter[str] = Counter()
    for progress in work.glob("progress*.jsonl"):
        for line in progress.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the killed run's last line, cut
            if event["state"] == "completed":
                completions[event["task"]] += 1
    return {
        "tasks": sum(states.values()),
        "completed": states.get("completed", 0),
        "failed": states.get("failed", 0),
        "not_ended": sum(n for state, n in states.items() if state not in ("completed", "failed")),
        "results": len(results),
        "completed_without_result": len(set(refs) - results),
        "results_without_task": len(results - set(refs)),
        "tasks_completed_twice": sum(1 for n in completions.values() if n > 1),
        "batch": links,
    }


def one_round(sandbox: SandboxProcess, links: int, expected_s: float, rng: random.Random) -> dict:
    work = Path(tempfile.mkdtemp(prefix="links-crash-"))
    batch = work / "batch.json"
    batch.write_text(json.dumps({"batch_id": "crash", "links": mixed_batch(links)}))
    sandbox.reset()
    at = rng.uniform(0.1, 0.9) * expected_s
    proc = subprocess.Popen(argv(batch, work, sandbox.url, 1), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    time.sleep(at)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_kill = links_task_states(work / "links.sqlite3")
    before = sandbox.stats()["resources"]
    started = time.perf_counter()
    second = subprocess.run(argv(batch, work, sandbox.url, 2), cwd=ROOT, capture_output=True, text=True)
    took = time.perf_counter() - started
    if second.returncode != 0:
        raise RuntimeError(
            f"the second run exited {second.returncode}:\n{second.stdout[-2000:]}{second.stderr[-2000:]}"
        )
    after = sandbox.stats()["resources"]
    again = sum(after[kind]["repeated"] - before.get(kind, {}).get("repeated", 0) for kind in after)
    return {
        "killed_at_s": round(at, 2),
        "tasks_at_kill": at_kill,
        "second_run_s": round(took, 2),
        "pages_fetched_again": again,
        **check(work, links),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--links", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    latency = ",".join(f"{site}={ms}" for site, ms in LATENCY_MS.items())
    # the expected run: bench/links.py measured 36 s of pool limit for 500 links at 8 workers
    expected_s = 36.0 * args.links / 500 + 3.0
    rounds = []
    with SandboxProcess(site_latency_ms=latency, cpu=1) as sandbox:
        for n in range(args.rounds):
            result = one_round(sandbox, args.links, expected_s, rng)
            rounds.append(result)
            print(f"round {n + 1}: {json.dumps(result)}", flush=True)
    ok = all(
        r["not_ended"] == 0
        and r["completed"] + r["failed"] == r["tasks"] == r["batch"]
        and r["completed_without_result"] == 0
        and r["results_without_task"] == 0
        and r["tasks_completed_twice"] == 0
        for r in rounds
    )
    print(
        f"{'MET    ' if ok else 'NOT MET'} every link exactly once after kill -9, "
        f"{args.rounds} rounds (seed {args.seed})"
    )
    print(f"saved: {save_results('links_crash', {'seed': args.seed, 'rounds': rounds, 'met': ok})}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
