"""Database maintenance for the pins table: integrity, counts per stage, node-id conversion.

Blocking functions, used by `scrapy pindb` (crawler/commands/pindb.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from crawler.parsers.pinterest import decode_node_id


@dataclass
class StageCounts:
    keyword: str | None
    pins: int
    node_ids: int  # base64 ids still to convert
    lacking_details: int
    with_details: int
    refused: int
    with_image: int


def integrity_problems(engine: Engine) -> list[str]:
    """SQLite's quick_check; an empty list when the file is sound (or the database is not SQLite)."""
    if engine.dialect.name != "sqlite":
        return []
    with engine.connect() as conn:
        rows = [r[0] for r in conn.execute(text("PRAGMA quick_check"))]
    return [] if rows == ["ok"] else rows


def _not_numeric(engine: Engine, column: str = "id") -> str:
    if engine.dialect.name == "postgresql":
        return f"{column} ~ '[^0-9]'"
    return f"{column} GLOB '*[^0-9]*'"


def stage_counts(engine: Engine) -> list[StageCounts]:
    query = text(
        f"""
        SELECT keyword,
               count(*),
               sum(CASE WHEN {_not_numeric(engine)} THEN 1 ELSE 0 END),
               sum(CASE WHEN details_fetched_at IS NULL AND status IS NULL THEN 1 ELSE 0 END),
               sum(CASE WHEN details_fetched_at IS NOT NULL THEN 1 ELSE 0 END),
               sum(CASE WHEN status IS NOT NULL THEN 1 ELSE 0 END),
               sum(CASE WHEN image_path IS NOT NULL THEN 1 ELSE 0 END)
        FROM pins GROUP BY keyword ORDER BY keyword
        """
    )
    with engine.connect() as conn:
        return [StageCounts(r[0], *(int(v or 0) for v in r[1:])) for r in conn.execute(query)]


@dataclass
class ConvertResult:
    converted: int  # rows whose id became numeric
    merged: int  # rows dropped because their numeric id was already stored
    invalid: list[str]  # ids that are neither numeric nor a pin's node id (left as they are)
    seconds: float


@contextmanager
def _big_sqlite_cache(conn: Connection) -> Iterator[None]:
    """The primary-key index of a million pins is ~50 MB: with SQLite's default 2 MB page cache
    the conversion's UPDATE re-reads it from the OS row after row (13% of the run), and its
    mapping table goes to a temporary file. For the conversion only, as the connection goes back
    to a pool that a crawl keeps using."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql("PRAGMA cache_size=-262144")
    conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
    conn.commit()  # the PRAGMAs began a transaction; the conversion has its own
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(before or -2000)}")
        conn.exec_driver_sql("PRAGMA temp_store=DEFAULT")
        conn.commit()


def convert_node_ids(
    engine: Engine, chunk: int = 100_000, progress: Callable[[int], None] | None = None
) -> ConvertResult:
    """Turn stored base64 node ids (`UGluOjEyMzQ1`) into numeric pin ids, in one transaction.

    Set-based: the ids are decoded in Python (the databases cannot decode base64 the same way),
    loaded into a temporary mapping table in chunks, then one UPDATE renames every row and one
    DELETE drops the rows whose numeric id was already stored (that row keeps its details; it
    takes the keyword of the dropped row when it has none). A crash leaves the database as it
    was: everything happens in a single transaction.
    """
    started = time.perf_counter()
    invalid: list[str] = []
    decoded = 0
    mark = "%s" if engine.dialect.name == "postgresql" else "?"
    with engine.connect() as conn, _big_sqlite_cache(conn), conn.begin():
        conn.execute(text("DROP TABLE IF EXISTS _pin_id_map"))
        conn.execute(text("CREATE TEMPORARY TABLE _pin_id_map (old TEXT PRIMARY KEY, new TEXT NOT NULL)"))
        last = ""
        select = text(f"SELECT id FROM pins WHERE {_not_numeric(engine)} AND id > :last ORDER BY id LIMIT :n")
        while True:
            ids = [r[0] for r in conn.execute(select, {"last": last, "n": chunk})]
            if not ids:
                break
            last = ids[-1]
            mapping = []
            for old in ids:
                try:
                    mapping.append((old, decode_node_id(old)))
                except ValueError:
                    invalid.append(old)
            if mapping:
                # the driver's executemany with tuples: half the cost of SQLAlchemy's per-row dicts
                conn.exec_driver_sql(f"INSERT INTO _pin_id_map (old, new) VALUES ({mark}, {mark})", mapping)
            decoded += len(mapping)
            if progress is not None:
                progress(decoded)
        if decoded == 0:
            conn.execute(text("DROP TABLE _pin_id_map"))
            return ConvertResult(0, 0, invalid, time.perf_counter() - started)
        conn.execute(text("CREATE INDEX _pin_id_map_new ON _pin_id_map (new)"))
        # several node ids of one pin ("Pin:1", "pin:1"): the first one is renamed, the others merged
        conn.execute(
            text(
                "UPDATE pins SET keyword = (SELECT p.keyword FROM _pin_id_map m JOIN pins p ON p.id = m.old"
                " WHERE m.new = pins.id AND p.keyword IS NOT NULL LIMIT 1)"
                " WHERE keyword IS NULL AND id IN (SELECT new FROM _pin_id_map)"
            )
        )
        merged = conn.execute(
            text(
                "DELETE FROM pins WHERE id IN (SELECT m.old FROM _pin_id_map m"
                " WHERE m.new IN (SELECT id FROM pins)"
                " OR m.old > (SELECT min(m2.old) FROM _pin_id_map m2 WHERE m2.new = m.new))"
            )
        ).rowcount
        converted = conn.execute(
            text("UPDATE pins SET id = m.new FROM _pin_id_map m WHERE pins.id = m.old")
        ).rowcount
        conn.execute(text("DROP TABLE _pin_id_map"))
    return ConvertResult(converted, merged, invalid, time.perf_counter() - started)
