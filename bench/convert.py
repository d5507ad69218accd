"""Benchmark: `scrapy pindb convert` on N stored base64 node ids (default 1,000,000).

    python bench/convert.py [--ids 1000000] [--database-url URL]

Fills a fresh SQLite database (or the one given) with N node ids plus 1% of them already stored
under their numeric id, runs the command as a user would, checks the result and prints ids/s
(the issue's target: at least 100,000 ids/s, start-up included).
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench.common import SCRAPY, save_results  # noqa: E402
from crawler.db import make_engine  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ids", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--target", type=float, default=100_000, help="ids/s")
    args = parser.parse_args()

    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='bench-convert-')) / 'pins.sqlite3'}"
    engine = make_engine(url)
    base = 10**17
    node_rows: list[tuple[str, str | None]] = [
        (base64.b64encode(f"Pin:{base + i}".encode()).decode(), f"keyword{i % 20}") for i in range(args.ids)
    ]
    numeric_rows: list[tuple[str, str | None]] = [(str(base + i), None) for i in range(0, args.ids, 100)]
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM pins"))
        conn.exec_driver_sql(
            f"INSERT INTO pins (id, keyword) VALUES ({mark}, {mark})", node_rows + numeric_rows
        )
    engine.dispose()

    started = time.perf_counter()
    proc = subprocess.run(
        [SCRAPY, "pindb", "convert", "-s", f"DATABASE_URL={url}"], cwd=ROOT, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    print(proc.stdout.strip())
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        return 1
    engine = make_engine(url)
    with engine.connect() as conn:
        not_numeric = "id GLOB '*[^0-9]*'" if engine.dialect.name == "sqlite" else "id ~ '[^0-9]'"
        total, numeric, keyworded = conn.execute(
            text(f"SELECT count(*), sum(CASE WHEN {not_numeric} THEN 0 ELSE 1 END), count(keyword) FROM pins")
        ).one()
    correct = total == numeric == keyworded == args.ids
    rate = args.ids / wall
    ok = correct and rate >= args.target
    print(
        f"convert: {args.ids} node ids in {wall:.2f} s (whole command) = {rate:,.0f} ids/s; "
        f"{total} pins after, all numeric: {numeric == total}, keywords kept: {keyworded == total}"
    )
    print(f"target: >= {args.target:,.0f} ids/s and every pin kept -> {'MET' if ok else 'NOT MET'}")
    save_results("convert", {"ids": args.ids, "wall_s": round(wall, 3), "ids_per_s": round(rate), "ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
