from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from crawler.db import make_engine
from crawler.db.maintenance import convert_node_ids, stage_counts
from crawler.db.pins import upsert_pins
from tests.conftest import ROOT, SCRAPY


def _node(kind: str, number: int) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def test_convert_renames_merges_and_leaves_garbage(engine) -> None:
    now = datetime.now(UTC)
    upsert_pins(
        engine,
        [
            {"id": _node("Pin", 11), "keyword": "cats"},
            {"id": _node("Pin", 22), "keyword": "dogs"},
            {"id": "22", "keyword": None, "title": "kept", "details_fetched_at": now},  # already numeric
            {"id": _node("pin", 33), "keyword": "owls"},
            {"id": _node("Pin", 33).rstrip("="), "keyword": "owls"},  # the same pin, unpadded
            {"id": "hello-world", "keyword": "junk"},
            {"id": "44", "keyword": "cats"},
        ],
    )
    result = convert_node_ids(engine, chunk=2)
    assert (result.converted, result.merged, result.invalid) == (2, 2, ["hello-world"])
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, keyword FROM pins")).all())
        kept = conn.execute(text("SELECT title FROM pins WHERE id = '22'")).scalar()
    assert rows == {"11": "cats", "22": "dogs", "33": "owls", "44": "cats", "hello-world": "junk"}
    assert kept == "kept"  # the stored numeric row keeps its details and gains the keyword
    assert convert_node_ids(engine).converted == 0  # nothing left


def test_stage_counts(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'p.sqlite3'}")
    now = datetime.now(UTC)
    upsert_pins(
        eng,
        [
            {"id": "1", "keyword": "a", "details_fetched_at": now, "image_path": "data/images/a/1.jpg"},
            {"id": "2", "keyword": "a"},
            {"id": _node("Pin", 3), "keyword": "a"},
            {"id": "4", "keyword": "b", "status": "not_found", "error": "40: Pin not found."},
        ],
    )
    counts = {c.keyword: c for c in stage_counts(eng)}
    assert (
        counts["a"].pins,
        counts["a"].node_ids,
        counts["a"].lacking_details,
        counts["a"].with_details,
        counts["a"].with_image,
    ) == (3, 1, 2, 1, 1)
    assert (counts["b"].pins, counts["b"].refused, counts["b"].lacking_details) == (1, 1, 0)


def test_pindb_commands(tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite3"
    upsert_pins(
        make_engine(f"sqlite:///{db}"), [{"id": _node("Pin", 5), "keyword": "a"}, {"id": "6", "keyword": "a"}]
    )
    setting = ["-s", f"DATABASE_URL=sqlite:///{db}"]
    check = subprocess.run([SCRAPY, "pindb", "check", *setting], cwd=ROOT, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "integrity: ok" in check.stdout
    assert [line.split() for line in check.stdout.splitlines() if line.startswith("a ")] == [
        ["a", "2", "1", "2", "0", "0", "0"]
    ]
    convert = subprocess.run([SCRAPY, "pindb", "convert", *setting], cwd=ROOT, capture_output=True, text=True)
    assert convert.returncode == 0
    assert convert.stdout.startswith("converted 1 node ids, merged 0")
    bad = subprocess.run([SCRAPY, "pindb", "frobnicate", *setting], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2
    assert "give one action: check, repair, convert" in bad.stderr
