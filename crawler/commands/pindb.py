"""`scrapy pindb check|repair|convert|upgrade`: look after the database named by DATABASE_URL.

scrapy pindb check      integrity check and schema revision, then pins per stage for each keyword
scrapy pindb repair     salvage a damaged SQLite file's readable rows into a new one
scrapy pindb convert    stored base64 node ids -> numeric pin ids (set-based, one transaction)
scrapy pindb upgrade    apply every pending schema migration (crawler/db/migrations), those a
                        crawl will not apply by itself included: back the database up first
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from scrapy.commands import ScrapyCommand
from scrapy.exceptions import UsageError

from crawler.db import make_engine
from crawler.db.engine import DatabaseURLError, create_engine_for, printable_url
from crawler.db.maintenance import convert_node_ids, integrity_problems, stage_counts
from crawler.db.repair import damage_report, repair, sqlite_path
from crawler.db.schema import SchemaError, revision_of, upgrade

if TYPE_CHECKING:
    import argparse

ACTIONS = ("check", "repair", "convert", "upgrade")


class Command(ScrapyCommand):
    requires_project = True
    requires_crawler_process = False
    default_settings = {"LOG_ENABLED": False}

    def syntax(self) -> str:
        return f"{{{'|'.join(ACTIONS)}}}"

    def short_desc(self) -> str:
        return "Check, repair, convert or upgrade the database"

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1 or args[0] not in ACTIONS:
            raise UsageError(f"give one action: {', '.join(ACTIONS)}")
        assert self.settings is not None
        url = self.settings.get("DATABASE_URL")
        if args[0] == "repair":
            self.exitcode = _repair(url)
            return
        if args[0] == "upgrade":
            self.exitcode = _upgrade(url)
            return
        if url.startswith("sqlite"):
            damage = damage_report(sqlite_path(url))
            if damage is not None:
                print(f"database {sqlite_path(url)} is damaged ({damage}); run `scrapy pindb repair`")
                self.exitcode = 1
                return
        try:
            engine = make_engine(url)
        except DatabaseURLError as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 2
            return
        except SchemaError as exc:
            print(f"error: {exc}", file=sys.stderr)
            self.exitcode = 1
            return
        if args[0] == "check":
            self.exitcode = _check(engine, url)
        else:
            self.exitcode = _convert(engine)


def _check(engine, url: str) -> int:  # type: ignore[no-untyped-def]
    problems = integrity_problems(engine)
    print(f"database: {printable_url(url)}")
    with engine.connect() as conn:
        print(f"schema: {revision_of(conn)}")
    if problems:
        print(f"integrity: DAMAGED ({len(problems)} problems; first: {problems[0]})")
        print("run `scrapy pindb repair` to salvage the readable rows into a new file")
        return 1
    print("integrity: ok")
    rows = stage_counts(engine)
    columns = ("pins", "node ids", "to fetch", "details", "refused", "images")
    print(f"{'keyword':24} " + " ".join(f"{c:>9}" for c in columns))
    for r in rows:
        name = (r.keyword or "(none)")[:24]
        print(
            f"{name:24} {r.pins:>9} {r.node_ids:>9} {r.lacking_details:>9} {r.with_details:>9} "
            f"{r.refused:>9} {r.with_image:>9}"
        )
    total = sum(r.pins for r in rows)
    print(f"{'total':24} {total:>9}")
    return 0


def _repair(url: str) -> int:
    try:
        result = repair(url)
    except (DatabaseURLError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lost = ""
    if result.lost:
        parts = []
        for table, ranges in result.lost_by_table.items():
            if ranges:
                spans = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in ranges[:5])
                parts.append(f"{table} rowids {spans}{' ...' if len(ranges) > 5 else ''}")
        lost = f" (unreadable: {'; '.join(parts)})"
    print(f"recovered {result.recovered} rows, lost {result.lost}{lost}, in {result.seconds:.2f} s")
    print(f"the damaged file is kept as {result.backup}")
    return 0


def _upgrade(url: str) -> int:
    try:
        engine = create_engine_for(url)
        before, after = upgrade(engine)
    except DatabaseURLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if before == after:
        print(f"database {printable_url(url)}: schema {after}, nothing to upgrade")
    else:
        print(f"database {printable_url(url)}: schema {before or 'none'} -> {after}")
    return 0


def _convert(engine) -> int:  # type: ignore[no-untyped-def]
    tty = sys.stdout.isatty()

    def progress(done: int) -> None:
        if tty:
            print(f"\rdecoded {done} node ids", end="", flush=True)

    result = convert_node_ids(engine, progress=progress)
    if tty:
        print()
    rate = (result.converted + result.merged) / result.seconds if result.seconds else 0.0
    print(
        f"converted {result.converted} node ids, merged {result.merged} into pins already stored, "
        f"in {result.seconds:.2f} s ({rate:,.0f} ids/s)"
    )
    if result.invalid:
        shown = ", ".join(repr(i) for i in result.invalid[:5])
        more = " ..." if len(result.invalid) > 5 else ""
        print(f"left {len(result.invalid)} ids that are not pin ids: {shown}{more}")
    return 0
