"""`scrapy crawl pins_search`, then `scrapy crawl pins -a keyword=K`: collect, then enrich."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import crawl, db_rows
from tests.databases import database

NO_BROWSER = ("-s", "BROWSER_ENABLED=False")
SEARCH = ("www.pinterest.com", "/resource/BaseSearchResource/get/")


def test_search_stores_pins_under_the_keyword_then_pins_fetches_their_details(
    make_sandbox, tmp_path: Path
) -> None:
    sb = make_sandbox(search_results=90)
    db = database(tmp_path)
    result = crawl("pins_search", "-a", "keyword=cats", *NO_BROWSER, sandbox_url=sb.url, db=db)
    assert result.returncode == 0, result.output[-2000:]
    assert db_rows(db, "SELECT count(*), count(DISTINCT id) FROM pins WHERE keyword='cats'") == [(90, 90)]
    assert db_rows(db, "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL") == [(0,)]
    assert sb.count(*SEARCH, "200") == 4  # 25 + 25 + 25 + 15, then -end-

    limited = crawl(
        "pins_search", "-a", "keyword=dogs", "-a", "limit=30", *NO_BROWSER, sandbox_url=sb.url, db=db
    )
    assert limited.returncode == 0
    assert db_rows(db, "SELECT count(*) FROM pins WHERE keyword='dogs'") == [(30,)]

    details = crawl("pins", "-a", "keyword=cats", *NO_BROWSER, sandbox_url=sb.url, db=db)
    assert details.returncode == 0, details.output[-2000:]
    assert db_rows(
        db,
        "SELECT count(*) FROM pins WHERE keyword='cats' AND details_fetched_at IS NOT NULL "
        "AND image_url IS NOT NULL AND saves IS NOT NULL",
    ) == [(90,)]
    assert db_rows(db, "SELECT count(*) FROM pins WHERE keyword='dogs' AND details_fetched_at IS NULL") == [
        (30,)
    ]

    # searching again finds the same pins: nothing new, details kept
    again = crawl("pins_search", "-a", "keyword=cats", *NO_BROWSER, sandbox_url=sb.url, db=db)
    assert again.returncode == 0
    assert db_rows(db, "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL") == [(90,)]


def test_search_arguments_are_checked(tmp_path: Path) -> None:
    missing = crawl("pins_search", sandbox_url=None, db=tmp_path / "x.sqlite3")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: pins_search: keyword is required: -a keyword=K"
    bad = crawl("pins_search", "-a", "keyword=cats", "-a", "limit=ten", sandbox_url=None)
    assert bad.stderr.strip() == "error: pins_search: limit 'ten' is not a whole number"
