"""Salvage a damaged SQLite pins database: every row on a readable page, into a fresh file.

SQLite's own `.recover` lives in the sqlite3 shell, which a user may not have. This reads the
table through its rowid b-tree in ranges; a range that fails ("database disk image is
malformed") is split until single rows, so the rows on undamaged pages are all kept and the
unreadable rowids are counted as lost. Indexes are not read at all (they are rebuilt).
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from crawler.db.engine import DatabaseURLError, make_engine

_COLUMNS_SQL = "SELECT name FROM pragma_table_info('pins') ORDER BY cid"


@dataclass
class RepairResult:
    recovered: int
    lost: int
    lost_ranges: list[tuple[int, int]] = field(default_factory=list)
    backup: Path | None = None
    seconds: float = 0.0


def sqlite_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise DatabaseURLError(f"DATABASE_URL {url!r}: repair works on SQLite files only")
    return Path(parsed.database)


def damage_report(path: Path) -> str | None:
    """None when the file is sound (or absent); else what is wrong, in a few words."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if rows == ["ok"] else rows[0]


def _read(conn: sqlite3.Connection, columns: str, low: int, high: int) -> list[tuple]:
    return conn.execute(f"SELECT {columns} FROM pins WHERE rowid BETWEEN ? AND ?", (low, high)).fetchall()


def _salvage(
    conn: sqlite3.Connection, columns: str, low: int, high: int, result: RepairResult
) -> list[tuple]:
    try:
        return _read(conn, columns, low, high)
    except sqlite3.DatabaseError:
        if low == high:
            result.lost += 1
            if result.lost_ranges and result.lost_ranges[-1][1] == low - 1:
                result.lost_ranges[-1] = (result.lost_ranges[-1][0], low)
            else:
                result.lost_ranges.append((low, low))
            return []
        mid = (low + high) // 2
        return _salvage(conn, columns, low, mid, result) + _salvage(conn, columns, mid + 1, high, result)


def _max_rowid(conn: sqlite3.Connection) -> int:
    try:
        return int(conn.execute("SELECT max(rowid) FROM pins").fetchone()[0] or 0)
    except sqlite3.DatabaseError:
        # the rightmost page is damaged: probe upwards until a long run of empty ranges
        top, empty, low = 0, 0, 1
        while empty < 20:
            try:
                rows = conn.execute(
                    "SELECT max(rowid) FROM pins WHERE rowid BETWEEN ? AND ?", (low, low + 9999)
                )
                found = rows.fetchone()[0]
            except sqlite3.DatabaseError:
                found = low + 9999
            if found:
                top, empty = int(found), 0
            else:
                empty += 1
            low += 10_000
        return top


def repair(url: str, chunk: int = 2000) -> RepairResult:
    """Copy every readable row of the SQLite database at `url` into a new file, swap it in, and
    keep the damaged file beside it as `<name>.damaged-<time>`."""
    started = time.perf_counter()
    path = sqlite_path(url)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    fresh = path.with_name(f"{path.name}.repairing-{stamp}")
    make_engine(f"sqlite:///{fresh}").dispose()  # the current schema, empty
    result = RepairResult(recovered=0, lost=0)
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    target = sqlite3.connect(fresh)
    try:
        wanted = [r[0] for r in target.execute(_COLUMNS_SQL)]
        try:
            have = {r[0] for r in source.execute(_COLUMNS_SQL)}
        except sqlite3.DatabaseError:
            have = set(wanted)
        columns = [c for c in wanted if c in have]
        column_sql = ", ".join(columns)
        insert = f"INSERT OR IGNORE INTO pins ({column_sql}) VALUES ({', '.join('?' for _ in columns)})"
        top = _max_rowid(source)
        for low in range(1, top + 1, chunk):
            rows = _salvage(source, column_sql, low, min(low + chunk - 1, top), result)
            target.executemany(insert, rows)
            result.recovered += len(rows)
        target.commit()
    finally:
        source.close()
        target.close()
    backup = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        old = Path(f"{path}{suffix}")
        if old.exists():
            shutil.move(old, f"{backup}{suffix}")
    shutil.move(fresh, path)
    for suffix in ("-wal", "-shm"):
        Path(f"{fresh}{suffix}").unlink(missing_ok=True)
    result.backup = backup
    result.seconds = time.perf_counter() - started
    return result
