"""The warm-up in a real headless Chromium (Debian's), routed to the sandbox, and its fallback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import crawl, db_rows, write_ids

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    # `make test` installs Debian's chromium; a missing browser is a set-up failure, not a skip.
    assert shutil.which("chromium"), "chromium is not installed: run `make setup`"


def _stat(output: str, name: str) -> int:
    match = re.search(rf"'{re.escape(name)}': (\d+)", output)
    return int(match.group(1)) if match else 0


def test_browser_warm_up_gets_the_scripted_token_and_blocks_heavy_resources(
    make_sandbox, tmp_path: Path
) -> None:
    sb = make_sandbox()
    ids = write_ids(tmp_path / "ids.txt", range(900_000, 900_040))
    db = tmp_path / "pins.sqlite3"
    result = crawl("pins", "-a", f"ids_file={ids}", "-s", "CONCURRENT_REQUESTS=8", sandbox_url=sb.url, db=db)
    assert result.returncode == 0, result.output[-3000:]
    assert "Pinterest session ready (browser" in result.output
    assert _stat(result.output, "pinterest/session/browser") == 1
    # the csrftoken only exists once the page's JavaScript ran: the API accepted every call
    assert sb.count("www.pinterest.com", "/resource/PinResource/get/", "200") == 40
    assert sb.count("www.pinterest.com", "/resource/PinResource/get/", "403") == 0
    assert db_rows(db, "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL") == [(40,)]
    # the page went to the sandbox (browser pages included), its image and stylesheet nowhere
    assert sb.count("www.pinterest.com", "/") == 1
    assert _stat(result.output, "playwright/request_count/aborted") == 2
    assert sb.count("i.pinimg.com", "/{size}/*.jpg") == 0


def test_no_browser_falls_back_to_plain_http(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox()
    ids = write_ids(tmp_path / "ids.txt", range(910_000, 910_020))
    db = tmp_path / "pins.sqlite3"
    result = crawl(
        "pins",
        "-a",
        f"ids_file={ids}",
        "-s",
        "BROWSER_EXECUTABLE=/nonexistent/chromium",
        sandbox_url=sb.url,
        db=db,
    )
    assert result.returncode == 0, result.output[-3000:]
    assert "No browser for the warm-up" in result.output
    assert "Pinterest session ready (http" in result.output
    assert db_rows(db, "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL") == [(20,)]
