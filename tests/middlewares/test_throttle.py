from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from crawler.middlewares.throttle import retry_after_seconds
from tests.conftest import crawl, db_rows, write_ids
from tests.databases import database

API = ("www.pinterest.com", "/resource/PinResource/get/")


def test_retry_after_forms() -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert retry_after_seconds(b"3") == 3.0
    assert retry_after_seconds("Wed, 21 Oct 2026 07:28:05 GMT", now=now) == 5.0
    assert retry_after_seconds("Wed, 21 Oct 2026 07:27:00 GMT", now=now) == 0.0  # in the past
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None


def test_crawl_under_a_rate_limit_loses_nothing_and_is_rarely_refused(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(rate_limit=40)
    ids = write_ids(tmp_path / "ids.txt", range(990_000, 990_300))
    db = database(tmp_path)
    result = crawl("pins", "-a", f"ids_file={ids}", "-s", "BROWSER_ENABLED=False", sandbox_url=sb.url, db=db)
    assert result.returncode == 0, result.output[-2000:]
    assert db_rows(db, "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL") == [(300,)]
    refused = sb.count(*API, "429")
    assert 0 < refused < 0.1 * sb.count(*API)  # it met the limit, and backed off
    assert "slowing to" in result.output
    assert "throttle/waited_s" in result.output  # Retry-After was honoured


def test_throttle_gives_up_after_its_retries(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(rate_limit=0.01)  # one request per 100 s: everything after the first is refused
    ids = write_ids(tmp_path / "ids.txt", [995_001])
    result = crawl(
        "pins",
        "-a",
        f"ids_file={ids}",
        "-s",
        "BROWSER_ENABLED=False",
        "-s",
        "THROTTLE_MAX_RETRIES=1",
        "-s",
        "THROTTLE_MAX_WAIT=0.2",
        sandbox_url=sb.url,
        db=database(tmp_path),
    )
    assert "throttle/gave_up" in result.output
    assert "Pin 995001 not fetched" in result.output or "Cannot start a Pinterest session" in result.output
