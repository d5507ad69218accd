"""A database made before migrations, and one from a newer version, as `scrapy crawl pins` and
`scrapy pindb` meet them, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from crawler.db.schema import HEAD
from tests.conftest import ROOT, SCRAPY, crawl
from tests.databases import table_rows

API = ("www.pinterest.com", "/resource/PinResource/get/")


def _outputs(url: str, tmp_path: Path) -> list[str]:
    return [
        "-s", f"DATABASE_URL={url}",
        "-s", f"FILES_STORE={tmp_path / 'images'}",
        "-s", f"METRICS_DIR={tmp_path / 'metrics'}",
        "-s", "BROWSER_ENABLED=False",
    ]  # fmt: skip


def _pindb(action: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRAPY, "pindb", action, "-s", f"DATABASE_URL={url}"], cwd=ROOT, capture_output=True, text=True
    )


def test_the_crawl_goes_on_from_where_a_database_made_before_migrations_was(
    made_before_migrations: str, sandbox, tmp_path: Path
) -> None:
    before = table_rows(made_before_migrations)
    sandbox.reset()
    result = crawl(
        "pins", "-a", "keyword=legacy", "-a", "images=0", *_outputs(made_before_migrations, tmp_path),
        sandbox_url=sandbox.url,
    )  # fmt: skip
    assert result.returncode == 0, result.output[-3000:]
    assert f"schema none -> {HEAD}" in result.output
    assert sandbox.count(*API) == 8  # the 8 pins lacking details, and none of the 22 finished
    after = table_rows(made_before_migrations)
    assert after["vehicles"] == before["vehicles"]
    finished = {r["id"]: r for r in before["pins"] if r["details_fetched_at"] or r["status"]}
    assert len(finished) == 22
    assert [r for r in after["pins"] if r["id"] in finished] == list(finished.values())
    fetched = [r for r in after["pins"] if r["id"] not in finished]
    assert len(fetched) == 8 and all(r["details_fetched_at"] and r["title"] for r in fetched)
    check = _pindb("check", made_before_migrations)
    assert check.returncode == 0 and f"schema: {HEAD}" in check.stdout


def test_pindb_upgrade_takes_over_a_database_made_before_migrations(made_before_migrations: str) -> None:
    before = table_rows(made_before_migrations)
    first = _pindb("upgrade", made_before_migrations)
    assert first.returncode == 0, first.stderr
    assert f"schema none -> {HEAD}" in first.stdout
    again = _pindb("upgrade", made_before_migrations)
    assert again.returncode == 0 and f"schema {HEAD}, nothing to upgrade" in again.stdout
    assert table_rows(made_before_migrations) == before


def test_a_database_from_a_newer_version_stops_the_crawl_before_it_starts(sandbox, tmp_path: Path) -> None:
    db = tmp_path / "newer.sqlite3"
    url = f"sqlite:///{db}"
    assert _pindb("upgrade", url).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    result = crawl("pins", "-a", "keyword=legacy", *_outputs(url, tmp_path), sandbox_url=sandbox.url)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert result.stderr.startswith("error: database ") and "0099" in result.stderr
    assert result.stdout == "" and "Spider opened" not in result.output
    check = _pindb("check", url)
    assert check.returncode == 1 and "0099" in check.stderr
