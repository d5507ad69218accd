"""A SQLite file with damaged pages: the crawl refuses it in one line, `scrapy pindb repair`
salvages every readable row and says how many were lost."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from crawler.db import make_engine
from crawler.db.engine import dispose_all
from crawler.db.pins import upsert_pins
from crawler.db.repair import damage_report
from crawler.db.vehicles import SeenVehicle, record_seen
from tests.conftest import ROOT, SCRAPY, crawl, db_rows, write_ids


def _damaged_db(tmp_path: Path, rows: int = 5000) -> Path:
    db = tmp_path / "pins.sqlite3"
    engine = make_engine(f"sqlite:///{db}")
    now = datetime.now(UTC)
    upsert_pins(
        engine,
        [
            {
                "id": str(7_000_000 + i),
                "keyword": "k",
                "title": f"pin number {i} " + "x" * 200,
                "details_fetched_at": now,
            }
            for i in range(rows)
        ],
    )
    # the jdpower tracking table lives in the same file: after the pins, so undamaged below
    record_seen(engine, [SeenVehicle(f"JDP-{n}", "2019 Toyota Camry") for n in range(300)])
    dispose_all()
    with sqlite3.connect(db) as conn:  # everything into the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    with db.open("r+b") as f:  # garbage over ~2% of the pages, in the middle of the file
        for page in range(pages // 2, pages // 2 + max(2, pages // 50)):
            f.seek(page * page_size)
            f.write(bytes((i * 37 + page) % 251 for i in range(page_size)))
    assert damage_report(db) is not None
    return db


def test_crawl_refuses_a_damaged_database_in_one_line(tmp_path: Path) -> None:
    db = _damaged_db(tmp_path, rows=2000)
    ids = write_ids(tmp_path / "ids.txt", [1])
    result = crawl("pins", "-a", f"ids_file={ids}", sandbox_url=None, db=db)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: database {db} is damaged (") and line.endswith(
        "run `scrapy pindb repair` first"
    )


def test_repair_keeps_every_readable_row_and_counts_the_lost(sandbox, tmp_path: Path) -> None:
    db = _damaged_db(tmp_path)
    setting = ["-s", f"DATABASE_URL=sqlite:///{db}"]
    check = subprocess.run([SCRAPY, "pindb", "check", *setting], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 1
    assert "is damaged" in check.stdout and "run `scrapy pindb repair`" in check.stdout
    result = subprocess.run([SCRAPY, "pindb", "repair", *setting], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    print(first)
    recovered = int(first.split()[1])
    lost = int(first.split("lost ")[1].split()[0])
    assert recovered + lost == 5300, first
    assert 0 < lost < 500, first
    assert damage_report(db) is None
    # the damaged file is kept (with its -wal/-shm, if any), and is still the damaged one
    (backup,) = [p for p in tmp_path.glob("pins.sqlite3.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    assert damage_report(backup) is not None
    assert db_rows(db, "SELECT count(*), count(DISTINCT id) FROM pins") == [
        (recovered - 300, recovered - 300)
    ]
    assert db_rows(db, "SELECT count(*) FROM vehicles") == [(300,)]
    # the crawl accepts the repaired file and goes on
    ids = write_ids(tmp_path / "ids.txt", range(8_000_000, 8_000_010))
    again = crawl(
        "pins", "-a", f"ids_file={ids}", "-s", "BROWSER_ENABLED=False", sandbox_url=sandbox.url, db=db
    )
    assert again.returncode == 0, again.output[-1500:]
    assert db_rows(db, "SELECT count(*) FROM pins")[0][0] == recovered - 300 + 10
