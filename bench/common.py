"""Shared pieces of the benchmarks: running a crawl as a user would, and the baseline clients."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.parsers import MalformedResponse  # noqa: E402
from crawler.parsers.pinterest import (  # noqa: E402
    PinDetails,
    parse_pin_resource,
    pin_resource_url,
    session_from_http,
)

SCRAPY = str(Path(sys.executable).with_name("scrapy"))


@dataclass
class Run:
    name: str
    pins: int
    wall_s: float
    cpu_s: float | None = None
    peak_rss_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.pins / self.wall_s


def run_crawl(
    args: list[str], *, env: dict[str, str] | None = None, timeout: float = 3600, sample_every: float = 0.5
) -> tuple[Run, str]:
    """`scrapy crawl ...` in a child process, as a user runs it.

    Returns wall time, CPU seconds (the crawl and every process it started, from the kernel's
    accounting of reaped children) and the peak resident memory of the crawl process
    (sampled every `sample_every` s), with the crawl's output.
    """
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = psutil.Popen(
        [SCRAPY, "crawl", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    peak = 0
    while proc.poll() is None:
        # the crawl process only: reading the browser's /proc/*/smaps costs enough CPU to slow
        # the crawl being measured
        with contextlib.suppress(psutil.Error):
            peak = max(peak, proc.memory_info().rss)
        if time.perf_counter() - started > timeout:
            proc.kill()
        # wait, not sleep: the wall time must end when the crawl does, not at the next sample
        with contextlib.suppress(psutil.TimeoutExpired):
            proc.wait(timeout=sample_every)
    wall = time.perf_counter() - started
    reader.join(5)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"scrapy crawl {' '.join(args)} exited {proc.returncode}:\n{''.join(out)[-3000:]}")
    return Run("scrapy crawl", 0, wall, cpu, peak / 2**20), "".join(out)


def pins_crawl_args(ids_file: Path, db: Path, sandbox_url: str, concurrency: int) -> list[str]:
    """`scrapy crawl pins` on an ids file, as the issues state it; outputs beside the database."""
    return [
        "pins",
        "-a", f"ids_file={ids_file}",
        "-s", f"CONCURRENT_REQUESTS={concurrency}",
        "-s", f"SANDBOX_URL={sandbox_url}",
        "-s", f"DATABASE_URL=sqlite:///{db}",
        "-s", f"FILES_STORE={db.parent / 'images'}",
        "-s", f"METRICS_DIR={db.parent / 'metrics'}",
        "-s", "LOG_LEVEL=WARNING",
    ]  # fmt: skip


def count_complete_pins(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT count(*) FROM pins WHERE image_url IS NOT NULL AND title IS NOT NULL"
            " AND board_name IS NOT NULL AND saves IS NOT NULL"
        ).fetchone()[0]


def _http_session(sandbox_url: str) -> tuple[Any, dict[str, str]]:
    import requests

    session = requests.Session()
    home = session.get(f"{sandbox_url}/", headers={"X-Forwarded-Host": "www.pinterest.com"}, timeout=30)
    pin_session = session_from_http(home.text, dict(home.cookies))
    headers = {"X-Forwarded-Host": "www.pinterest.com", **pin_session.headers()}
    return session, headers


def _fetch(session: Any, headers: dict[str, str], sandbox_url: str, pin_id: str) -> PinDetails | None:
    for _ in range(3):
        resp = session.get(pin_resource_url(sandbox_url, pin_id), headers=headers, timeout=30)
        if resp.status_code >= 500 or resp.status_code == 429:
            continue
        try:
            item = parse_pin_resource(resp.content, pin_id)
        except MalformedResponse:
            continue
        return item if isinstance(item, PinDetails) else None
    return None


def _sqlite_writer(db_path: Path, rows: queue.Queue[PinDetails | None]) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS pins (id TEXT PRIMARY KEY, title TEXT, image_url TEXT, board_name TEXT,"
        " saves INTEGER, created_at TEXT)"
    )
    batch: list[tuple[Any, ...]] = []
    while True:
        item = rows.get()
        if item is not None:
            batch.append(
                (item.id, item.title, item.image_url, item.board_name, item.saves, str(item.created_at))
            )
        if item is None or len(batch) >= 500:
            conn.executemany("INSERT OR REPLACE INTO pins VALUES (?,?,?,?,?,?)", batch)
            conn.commit()
            batch = []
        if item is None:
            break
    conn.close()


def _start_writer(db_path: Path) -> tuple[queue.Queue[PinDetails | None], threading.Thread]:
    rows: queue.Queue[PinDetails | None] = queue.Queue()
    writer = threading.Thread(target=_sqlite_writer, args=(db_path, rows))
    writer.start()
    return rows, writer


def sequential_requests(sandbox_url: str, ids: list[str], db_path: Path) -> Run:
    """The simplest client: one `requests.Session`, one pin after another."""
    started = time.perf_counter()
    cpu0 = time.process_time()
    session, headers = _http_session(sandbox_url)
    rows, writer = _start_writer(db_path)
    done = 0
    for pin_id in ids:
        item = _fetch(session, headers, sandbox_url, pin_id)
        if item is not None:
            rows.put(item)
            done += 1
    rows.put(None)
    writer.join()
    return Run("sequential requests", done, time.perf_counter() - started, time.process_time() - cpu0)


def thread_pool_requests(sandbox_url: str, ids: list[str], db_path: Path, workers: int = 16) -> Run:
    """The seeds' design: ThreadPoolExecutor of `workers` requests sessions feeding one writer
    thread through a queue."""
    started = time.perf_counter()
    cpu0 = time.process_time()
    local = threading.local()
    _, headers = _http_session(sandbox_url)
    rows, writer = _start_writer(db_path)

    def work(pin_id: str) -> bool:
        import requests

        if not hasattr(local, "session"):
            local.session = requests.Session()
        item = _fetch(local.session, headers, sandbox_url, pin_id)
        if item is not None:
            rows.put(item)
        return item is not None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = sum(pool.map(work, ids))
    rows.put(None)
    writer.join()
    return Run(
        f"thread pool ({workers}) + writer", done, time.perf_counter() - started, time.process_time() - cpu0
    )


def save_results(name: str, results: dict[str, Any]) -> Path:
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return out
