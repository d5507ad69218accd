"""Salvage a damaged SQLite database: every row on a readable page, into a fresh file.

SQLite's own `.recover` lives in the sqlite3 shell, which a user may not have. This reads each
table of the schema (pins, vehicles) through its rowid b-tree in ranges; a range that fails
("database disk image is malformed") is split until single rows, so the rows on undamaged pages
are all kept and the unreadable rowids are counted as lost. Indexes are not read (they are
rebuilt)."""

from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from crawler.db.engine import DatabaseURLError, make_engine
from crawler.db.models import Base

_COLUMNS_SQL = "SELECT name FROM pragma_table_info(?) ORDER BY cid"


@dataclass
class RepairResult:
    recovered: int
    lost: int
    lost_ranges: list[tuple[int, int]] = field(default_factory=list)  # of the table being read
    by_table: dict[str, tuple[int, int]] = field(default_factory=dict)  # table: (recovered, lost)
    lost_by_table: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
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


def _read(conn: sqlite3.Connection, table: str, columns: str, low: int, high: int) -> list[tuple]:
    query = f"SELECT {columns} FROM {table} WHERE rowid BETWEEN ? AND ?"
    return conn.execute(query, (low, high)).fetchall()


def _salvage(
    conn: sqlite3.Connection, table: str, columns: str, low: int, high: int, result: RepairResult
) -> list[tuple]:
    try:
        return _read(conn, table, columns, low, high)
    except sqlite3.DatabaseError:
        if low == high:
            result.lost += 1
            if result.lost_ranges and result.lost_ranges[-1][1] == low - 1:
                result.lost_ranges[-1] = (result.lost_ranges[-1][0], low)
            else:
                result.lost_ranges.append((low, low))
            return []
        mid = (low + high) // 2
        return _salvage(conn, table, columns, low, mid, result) + _salvage(
            conn, table, columns, mid + 1, high, result
        )


def _max_rowid(conn: sqlite3.Connection, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0)
    except sqlite3.DatabaseError:
        # the rightmost page is damaged: probe upwards until a long run of empty ranges
        top, empty, low = 0, 0, 1
        while empty < 20:
            try:
                rows = conn.execute(
                    f"SELECT max(rowid) FROM {table} WHERE rowid BETWEEN ? AND ?", (low, low + 9999)
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


def _copy_table(
    source: sqlite3.Connection, target: sqlite3.Connection, table: str, chunk: int, result: RepairResult
) -> None:
    wanted = [r[0] for r in target.execute(_COLUMNS_SQL, (table,))]
    try:
        have = {r[0] for r in source.execute(_COLUMNS_SQL, (table,))}
    except sqlite3.DatabaseError:
        have = set(wanted)  # the schema page itself is damaged: try every column
    columns = [c for c in wanted if c in have]
    if not columns:
        return  # a table this file never had (made by a later version)
    column_sql = ", ".join(columns)
    insert = f"INSERT OR IGNORE INTO {table} ({column_sql}) VALUES ({', '.join('?' for _ in columns)})"
    recovered, lost = result.recovered, result.lost
    result.lost_ranges = []
    top = _max_rowid(source, table)
    for low in range(1, top + 1, chunk):
        rows = _salvage(source, table, column_sql, low, min(low + chunk - 1, top), result)
        target.executemany(insert, rows)
        result.recovered += len(rows)
    result.by_table[table] = (result.recovered - recovered, result.lost - lost)
    result.lost_by_table[table] = result.lost_ranges


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
        for table in Base.metadata.tables:
            _copy_table(source, target, table, chunk, result)
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
