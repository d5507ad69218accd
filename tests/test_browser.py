"""The warm-up in a real headless Chromium (Debian's), routed to the sandbox, and its fallback."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import crawl, db_rows, write_ids
from tests.databases import database

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
    db = database(tmp_path)
    result = crawl(
        "pins",
        "-a",
        f"ids_file={ids}",
        "-a",
        "images=0",
        "-s",
        "CONCURRENT_REQUESTS=8",
        sandbox_url=sb.url,
        db=db,
    )
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
    db = database(tmp_path)
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
    assert "Browser warm-up failed" in result.output
    assert "Pinterest session ready (http" in result.output
    assert db_rows(db, "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL") == [(20,)]


def test_unreachable_site_stops_with_one_error_and_no_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    ids = write_ids(tmp_path / "ids.txt", range(920_000, 920_030))
    result = crawl("pins", "-a", f"ids_file={ids}", sandbox_url=dead, db=database(tmp_path))
    assert result.returncode == 1
    assert result.output.count("Cannot start a Pinterest session") == 1
    assert "Traceback" not in result.output
    assert "Pin 9200" not in result.output


def test_expired_session_is_warmed_up_again_in_a_relaunched_browser(make_sandbox, tmp_path: Path) -> None:
    # the warm-up closes Chromium; a session that expires mid-crawl needs it launched again
    sb = make_sandbox(latency_ms=50, session_ttl_s=1.0)
    ids = write_ids(tmp_path / "ids.txt", range(930_000, 930_150))
    db = database(tmp_path)
    result = crawl("pins", "-a", f"ids_file={ids}", "-s", "CONCURRENT_REQUESTS=4", sandbox_url=sb.url, db=db)
    assert result.returncode == 0, result.output[-3000:]
    assert _stat(result.output, "pinterest/session/refused") >= 1
    assert _stat(result.output, "pinterest/session/browser") >= 2  # the first one and a new one
    assert _stat(result.output, "playwright/browser_count") >= 2
    assert sb.count("www.pinterest.com", "/") >= 2
    assert db_rows(db, "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL") == [(150,)]
    assert db_rows(db, "SELECT count(*) FROM pins WHERE status IS NOT NULL") == [(0,)]  # no 403 stored
