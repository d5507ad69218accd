"""Benchmark: the database goes away in the middle of a crawl, and the crawl rides it out.

    python bench/db_outage.py [--pins 5000] [--outage-s 30] [--latency-ms 50] [--backend both]

For each backend, `scrapy crawl pins` on --pins ids against the sandbox runs twice, in turn:
- without an outage (the baseline for time and memory);
- with one: when a third of the pins are stored, PostgreSQL is stopped for --outage-s seconds
  (`pg_ctlcluster ... stop`, then `start`: run as root), or the SQLite file is write-locked by
  this process (BEGIN EXCLUSIVE) for as long.
Checked: the crawl finishes by itself (exit 0) with every pin stored, each pin fetched once
(the sandbox's own count), peak memory of the crawl process within --memory-mb (50) of the run
without the outage, and what the crawl said (outage begun, back, requests paused and resumed).
Results go to bench/results/db_outage.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Run, pins_crawl_args, run_crawl, save_results
from sandbox.process import SandboxProcess

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_DB = "crawler_bench_outage"


def pg_cluster(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
    )


def psql(sql: str, db: str = PG_ADMIN) -> str:
    return subprocess.run(
        ["psql", db, "-tAc", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Backend:
    name = ""

    def url(self, work: Path, run: str) -> str:
        raise NotImplementedError

    def stored(self, url: str) -> int:
        raise NotImplementedError

    @contextlib.contextmanager
    def outage(self, url: str) -> Iterator[None]:
        raise NotImplementedError
        yield


class SQLite(Backend):
    name = "sqlite"

    def url(self, work: Path, run: str) -> str:
        return f"sqlite:///{work / f'{run}.sqlite3'}"

    def stored(self, url: str) -> int:
        path = url.removeprefix("sqlite:///")
        if not Path(path).exists():
            return 0
        with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
            try:
                return conn.execute(
                    "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL"
                ).fetchone()[0]
            except sqlite3.OperationalError:
                return 0

    @contextlib.contextmanager
    def outage(self, url: str) -> Iterator[None]:
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()


class PostgreSQL(Backend):
    name = "postgresql"

    def url(self, work: Path, run: str) -> str:
        psql(f"DROP DATABASE IF EXISTS {PG_DB}")
        psql(f"CREATE DATABASE {PG_DB}")
        return f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"

    def stored(self, url: str) -> int:
        try:
            return int(psql("SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL", url) or 0)
        except subprocess.CalledProcessError:
            return 0  # not made yet, or the server is stopped

    @contextlib.contextmanager
    def outage(self, url: str) -> Iterator[None]:
        pg_cluster("stop")
        try:
            yield
        finally:
            pg_cluster("start")

    def drop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            psql(f"DROP DATABASE IF EXISTS {PG_DB}")


def crawl(backend: Backend, work: Path, sandbox: SandboxProcess, run: str, args: argparse.Namespace) -> dict:
    url = backend.url(work, run)
    ids = work / f"{run}-ids.txt"
    first = 60_000_000 + len(list(work.glob("*-ids.txt"))) * 1_000_000
    ids.write_text("".join(f"{first + i}\n" for i in range(args.pins)))
    argv = pins_crawl_args(ids, work / f"{run}.sqlite3", sandbox.url, args.concurrency)
    argv += ["-a", "images=0", "-s", f"DATABASE_URL={url}", "-s", "LOG_LEVEL=INFO"]
    sandbox.reset()
    result: dict[str, Any] = {}

    def go() -> None:
        try:
            result["run"], result["output"] = run_crawl(argv, timeout=args.outage_s + 600)
        except Exception as exc:  # a non-zero exit: reported below
            result["error"] = str(exc)

    thread = threading.Thread(target=go)
    thread.start()
    outage: dict[str, float] = {}
    if run == "outage":
        wait_for(
            lambda: backend.stored(url) >= args.pins // 3 or not thread.is_alive(), 300, "a third of the pins"
        )
        if thread.is_alive():
            outage["stored_at_start"] = backend.stored(url)
            with backend.outage(url):
                started = time.monotonic()
                time.sleep(args.outage_s)
                outage["seconds"] = round(time.monotonic() - started, 1)
    thread.join()
    if "error" in result:
        return {"run": run, "exit": "failed", "error": result["error"][-2000:], "outage": outage}
    crawl_run: Run = result["run"]
    output: str = result["output"]
    served = sandbox.stats()["resources"].get("pin", {})
    said = [
        line.split("] ", 1)[-1]
        for line in output.splitlines()
        if "crawler.db.outage]" in line or "crawler.pipelines.database]" in line
    ]
    metrics = sorted((work / "metrics").glob("pins-*.json"))[-1]
    stats = json.loads(metrics.read_text())["stats"]
    return {
        "run": run,
        "exit": 0,
        "wall_s": round(crawl_run.wall_s, 1),
        "stored": backend.stored(url),
        "pins_fetched": served.get("unique", 0),
        "fetched_again": served.get("repeated", 0),
        "peak_rss_mb": round(crawl_run.peak_rss_mb or 0, 1),
        "outage": outage,
        "said": said,
        "stats": {k: v for k, v in stats.items() if k.startswith("database/")},
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pins", type=int, default=5000)
    parser.add_argument("--outage-s", type=float, default=30)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--memory-mb", type=float, default=50)
    args = parser.parse_args()
    backends: list[Backend] = []
    if args.backend in ("postgresql", "both"):
        if os.geteuid() != 0:
            print("error: stopping PostgreSQL needs root (pg_ctlcluster); run as root", file=sys.stderr)
            return 2
        backends.append(PostgreSQL())
    if args.backend in ("sqlite", "both"):
        backends.append(SQLite())

    results: dict[str, Any] = {}
    ok = True
    with SandboxProcess(latency_ms=args.latency_ms) as sandbox:
        for backend in backends:
            work = Path(tempfile.mkdtemp(prefix=f"bench-outage-{backend.name}-"))
            try:
                runs = [crawl(backend, work, sandbox, run, args) for run in ("baseline", "outage")]
            finally:
                if isinstance(backend, PostgreSQL):
                    backend.drop()
            base, hit = runs
            checks = {
                "finished by itself (exit 0)": hit["exit"] == 0,
                f"every pin stored ({args.pins})": hit.get("stored") == args.pins,
                "each pin fetched once": hit.get("pins_fetched") == args.pins
                and hit.get("fetched_again") == 0,
                f"peak memory within {args.memory_mb:.0f} MB of the run without the outage": (
                    hit.get("peak_rss_mb", 1e9) - base.get("peak_rss_mb", 0) <= args.memory_mb
                ),
                f"the outage lasted {args.outage_s:.0f} s in the middle of the crawl": (
                    hit["outage"].get("seconds", 0) >= args.outage_s * 0.99
                    and 0 < hit["outage"].get("stored_at_start", 0) < args.pins
                ),
            }
            results[backend.name] = {"runs": runs, "checks": checks}
            ok = ok and all(checks.values())
            print(
                f"== {backend.name}: {args.pins} pins, {args.latency_ms:.0f} ms, {args.concurrency} at once"
            )
            for r in runs:
                if r["exit"] != 0:
                    print(f"  {r['run']:8}: FAILED: {r['error']}")
                    continue
                print(
                    f"  {r['run']:8}: {r['wall_s']:6.1f} s, stored {r['stored']}, pins fetched "
                    f"{r['pins_fetched']} (again: {r['fetched_again']}), peak {r['peak_rss_mb']} MB RSS"
                )
            if hit["exit"] == 0:
                outage = hit["outage"]
                print(
                    f"  outage: {outage.get('seconds')} s from {outage.get('stored_at_start')} pins stored; "
                    f"stats {json.dumps(hit['stats'])}"
                )
                for line in hit["said"]:
                    print(f"    crawl said: {line}")
            for what, met in checks.items():
                print(f"  {'MET' if met else 'NOT MET'}: {what}")
    out = save_results("db_outage", {"args": vars(args), "results": results, "all_met": ok})
    print(f"results: {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
