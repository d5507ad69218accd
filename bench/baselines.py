"""The designs `scrapy crawl pins` replaces, as commands a user would run, for the benchmarks.

    python bench/baselines.py thread-pool --sandbox-url URL --ids-file F --db D [--workers 16]
    python bench/baselines.py sequential  --sandbox-url URL --ids-file F --db D

thread-pool is the seeds' design: a ThreadPoolExecutor of `requests` sessions feeding one SQLite
writer thread through a queue. sequential is one `requests.Session`, one pin after another. Both
take the session from the home page over plain HTTP (no browser) and print one JSON line:
{"pins": stored, "wall_s": ..., "cpu_s": ...} measured inside the process; the bench times the
whole command from outside as well, so interpreter start-up counts for them as for scrapy.
"""

from __future__ import annotations

import argparse
import json
import queue
import sqlite3
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crawler.parsers import MalformedResponse
from crawler.parsers.pinterest import (
    PinDetails,
    parse_pin_resource,
    pin_resource_url,
    session_from_http,
)


def _http_session(sandbox_url: str) -> tuple[Any, dict[str, str]]:
    import requests

    session = requests.Session()
    home = session.get(f"{sandbox_url}/", headers={"X-Forwarded-Host": "www.pinterest.com"}, timeout=30)
    pin_session = session_from_http(home.text, {c.name: c.value or "" for c in home.cookies})
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


def sequential_requests(sandbox_url: str, ids: list[str], db_path: Path) -> dict[str, float]:
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
    return {"pins": done, "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu0}


def thread_pool_requests(
    sandbox_url: str, ids: list[str], db_path: Path, workers: int = 16
) -> dict[str, float]:
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
    return {"pins": done, "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu0}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("design", choices=("thread-pool", "sequential"))
    parser.add_argument("--sandbox-url", required=True)
    parser.add_argument("--ids-file", type=Path, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    ids = args.ids_file.read_text().split()
    if args.design == "thread-pool":
        result = thread_pool_requests(args.sandbox_url, ids, args.db, args.workers)
    else:
        result = sequential_requests(args.sandbox_url, ids, args.db)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
