"""`scrapy crawl jdpower` in headless Chromium against the sandbox's portal: login, licence,
inventory, browser downloads in several contexts, the tracking table, run folders, metrics."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import CrawlResult, crawl, start_crawl
from tests.databases import database

pytestmark = pytest.mark.browser

USER, PASSWORD = "test-user", "s3cret-Test-Pass"


def _args(sb, tmp_path: Path, *args: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [
        "jdpower",
        "-s", f"JDPOWER_BASE_URL={sb.url}",
        "-s", f"JDPOWER_OUTPUT_DIR={tmp_path / 'downloads'}",
        *args,
    ]  # fmt: skip


def _jdpower(sb, tmp_path: Path, *args: str, password: str = PASSWORD, **env: str) -> CrawlResult:  # type: ignore[no-untyped-def]
    return crawl(
        *_args(sb, tmp_path, *args),
        sandbox_url=None,
        db=database(tmp_path, "jd"),
        env={"JD_USER": USER, "JD_PASS": password, **env},
    )


def _start_jdpower(sb, tmp_path: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    """The crawl in the background (its output in `log`), for a test to act on while it runs."""
    creds = {"JD_USER": USER, "JD_PASS": PASSWORD}
    return start_crawl(
        *_args(sb, tmp_path, *args), sandbox_url=None, db=database(tmp_path, "jd"), log=log, env=creds
    )


def _wait_for_pdfs(sb, count: int) -> None:  # type: ignore[no-untyped-def]
    """Until the sandbox has served `count` distinct report PDFs (60 s at most)."""
    deadline = time.monotonic() + 60
    while sb.stats()["resources"].get("pdf", {}).get("unique", 0) < count:
        assert time.monotonic() < deadline, f"fewer than {count} PDFs served in 60 s"
        time.sleep(0.05)


def _rows(tmp_path: Path) -> list[tuple]:
    return database(tmp_path, "jd").rows(
        "SELECT ref, status, pdf_path, size, sha256, attempts FROM vehicles ORDER BY ref"
    )


def test_every_report_once_valid_named_from_its_reference(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(vehicles=12, pdf_delay_ms=300, jd_user=USER, jd_pass=PASSWORD)
    # pages open up to 4 vehicles each here (one by default): the reports are the same
    result = _jdpower(sb, tmp_path, "-s", "CONCURRENT_CONTEXTS=3", "-s", "JDPOWER_PAGE_VEHICLES=4")
    assert result.returncode == 0, result.output[-3000:]
    run = tmp_path / "downloads" / date.today().isoformat() / "run-1"
    pdfs = sorted(run.glob("*.pdf"))
    assert len(pdfs) == 12
    rows = _rows(tmp_path)
    assert [r[1] for r in rows] == ["done"] * 12
    for ref, _, path, size, sha256, _ in rows:
        data = Path(path).read_bytes()
        assert Path(path) == run / f"{ref}.pdf"  # never the server's suggested name
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF") and ref.encode() in data
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256)
    assert len({r[4] for r in rows}) == 12
    assert not list((tmp_path / "downloads").rglob("*.part"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["total_inventory"], metrics["succeeded"], metrics["failed"]) == (12, 12, 0)
    assert (metrics["concurrent_contexts"], metrics["success_rate"]) == (3, 1.0)
    assert metrics["speedup_factor"] > 0 and metrics["avg_seconds_per_vehicle"] >= 0.3
    stats = sb.stats()
    assert stats["peak_inflight"] >= 2  # the contexts waited for their reports at the same time
    assert stats["resources"]["pdf"] == {"unique": 12, "repeated": 0, "max_fetches": 1}
    assert "127.0.0.1 /static/*" not in stats["requests"]  # stylesheets, fonts, images blocked
    # a context's two pages opened every vehicle of it: the login's page and at most 2 x 3
    (pages,) = re.findall(r"'playwright/page_count': (\d+)", result.output)
    assert int(pages) <= 1 + 2 * 3

    again = _jdpower(sb, tmp_path)
    assert again.returncode == 0
    assert "Nothing to download: 12 vehicles already downloaded" in again.output
    assert sb.stats()["resources"]["pdf"]["repeated"] == 0
    second = json.loads((run.parent / "run-2" / "metrics.json").read_text())
    assert (second["skipped_already_downloaded"], second["attempted"]) == (12, 0)


def test_wrong_credentials_one_line_naming_the_user_never_the_password(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(vehicles=5, jd_user=USER, jd_pass=PASSWORD)
    wrong = "wrong-Pass-9137"
    result = _jdpower(sb, tmp_path, "-s", f"JOBDIR={tmp_path / 'job'}", password=wrong)
    assert result.returncode == 1
    errors = [line for line in result.output.splitlines() if "] ERROR: " in line]
    assert len(errors) == 1 and repr(USER) in errors[0] and "Invalid username or password" in errors[0]
    assert not (tmp_path / "downloads").exists()  # nothing saved, not even a run folder
    assert _rows(tmp_path) == []
    for file in [*tmp_path.rglob("*")]:
        if file.is_file():
            assert wrong.encode() not in file.read_bytes(), file
    assert wrong not in result.output


def test_a_browser_that_cannot_start_stops_the_crawl_with_one_line(make_sandbox, tmp_path: Path) -> None:
    # Node.js refuses this option in NODE_OPTIONS: Playwright's driver dies as it starts
    sb = make_sandbox(vehicles=4, jd_user=USER, jd_pass=PASSWORD)
    result = _jdpower(sb, tmp_path, NODE_OPTIONS="--optimize-for-size")
    assert result.returncode == 1
    errors = [line for line in result.output.splitlines() if "] ERROR: " in line]
    assert len(errors) == 1, result.output[-3000:]
    assert "the browser cannot start" in errors[0] and "NODE_OPTIONS is '--optimize-for-size" in errors[0]
    assert "Traceback" not in result.output
    assert "Login attempt" not in result.output  # no try that could not work either
    assert not (tmp_path / "downloads").exists() and _rows(tmp_path) == []


def test_missing_credentials_stop_before_the_start(tmp_path: Path) -> None:
    result = crawl(
        "jdpower", sandbox_url=None, db=database(tmp_path, "jd"), env={"JD_USER": "", "JD_PASS": ""}
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: jdpower: JD_USER and JD_PASS not set: put them in the environment or in .env"
    ]


def test_an_expired_session_logs_in_again_and_loses_nothing(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(vehicles=14, pdf_delay_ms=300, jd_user=USER, jd_pass=PASSWORD)
    log = tmp_path / "run.log"
    proc = _start_jdpower(sb, tmp_path, log, "-s", "CONCURRENT_CONTEXTS=2")
    _wait_for_pdfs(sb, 4)
    assert sb.expire_sessions() == 1  # the site logs everybody out while reports are under way
    assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    assert [r[1] for r in _rows(tmp_path)] == ["done"] * 14
    (metrics_file,) = (tmp_path / "downloads").rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["relogins"] >= 1 and metrics["succeeded"] == 14
    assert sb.stats()["requests"]["jdpower logins"]["accepted"] == metrics["relogins"] + 1
    assert PASSWORD not in log.read_text()
    stats = sb.stats()["resources"]["pdf"]
    assert (stats["unique"], stats["repeated"]) == (14, 0)


def test_an_error_page_while_logging_in_is_tried_again_at_once(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(vehicles=4, pdf_delay_ms=100, jd_user=USER, jd_pass=PASSWORD)
    # the sign-in lands on an error page instead of the licence: it has no "Accept" to wait for
    sb.fail("/licence")
    result = _jdpower(sb, tmp_path, "-s", "CONCURRENT_CONTEXTS=2")
    assert result.returncode == 0, result.output[-3000:]
    assert "Login attempt 1 failed (signing in: /licence answered HTTP 500); trying again" in result.output
    assert "Timeout 30000ms" not in result.output  # not after waiting for a control that never came
    assert sb.count("127.0.0.1", "/licence", "500") == 1
    assert [r[1] for r in _rows(tmp_path)] == ["done"] * 4


def test_ctrl_c_halfway_then_the_same_command_finishes_each_vehicle_once(
    make_sandbox, tmp_path: Path
) -> None:
    sb = make_sandbox(vehicles=20, pdf_delay_ms=700, jd_user=USER, jd_pass=PASSWORD)
    args = ("-s", f"JOBDIR={tmp_path / 'job'}", "-s", "CONCURRENT_CONTEXTS=2")
    proc = _start_jdpower(sb, tmp_path, tmp_path / "run1.log", *args)
    _wait_for_pdfs(sb, 6)
    proc.send_signal(signal.SIGINT)  # one Ctrl+C
    assert proc.wait(timeout=60) == 0, (tmp_path / "run1.log").read_text()[-3000:]
    first = [r for r in _rows(tmp_path) if r[1] == "done"]
    assert 6 <= len(first) < 20
    assert not [r for r in _rows(tmp_path) if r[1] == "downloading"]  # claims released on the stop
    again = _jdpower(sb, tmp_path, *args)
    assert again.returncode == 0, again.output[-3000:]
    rows = _rows(tmp_path)
    assert [r[1] for r in rows] == ["done"] * 20
    files = sorted(p.name for p in (tmp_path / "downloads").rglob("*.pdf"))
    assert files == sorted(f"{r[0]}.pdf" for r in rows)  # every vehicle once on disk
    stats = sb.stats()["resources"]["pdf"]
    assert (stats["unique"], stats["repeated"]) == (20, 0)  # and downloaded once


def test_max_downloads_stops_after_that_many_new_reports(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(vehicles=10, pdf_delay_ms=200, jd_user=USER, jd_pass=PASSWORD)
    result = _jdpower(sb, tmp_path, "-a", "max_downloads=3", "-s", "CONCURRENT_CONTEXTS=2")
    assert result.returncode == 0, result.output[-3000:]
    assert len([r for r in _rows(tmp_path) if r[1] == "done"]) == 3
    assert len(list((tmp_path / "downloads").rglob("*.pdf"))) == 3


def test_a_failing_portal_loses_no_vehicle_and_no_browser_page(make_sandbox, tmp_path: Path) -> None:
    # one request in five answers 500: report links too, whose error pages once kept their
    # browser page from ever closing, until every context was full and the crawl stood still
    sb = make_sandbox(vehicles=20, pdf_delay_ms=100, error_rate=0.2, jd_user=USER, jd_pass=PASSWORD)
    sb.fail("/reports/*", 2)  # that case for sure, whatever the error rate draws
    result = _jdpower(
        sb,
        tmp_path,
        "-s",
        "CONCURRENT_CONTEXTS=2",
        "-s",
        "JDPOWER_CONTEXT_VEHICLES=4",
        "-s",
        "JDPOWER_PAGE_VEHICLES=3",
    )
    assert result.returncode == 0, result.output[-3000:]
    rows = _rows(tmp_path)
    assert [r[1] for r in rows] == ["done"] * 20
    assert len(list((tmp_path / "downloads").rglob("*.pdf"))) == 20
    served = sb.stats()["requests"]
    assert served["127.0.0.1 /reports/*"].get("500", 0) >= 1  # the case above did happen
    assert "jdpower/contexts_recycled" in result.output  # contexts were made anew on the way
    # a vehicle's time is its own tries, not its waits for the worker: never more than 2 at once
    (metrics_file,) = (tmp_path / "downloads").rglob("metrics.json")
    assert 0 < json.loads(metrics_file.read_text())["speedup_factor"] <= 2


@pytest.mark.parametrize("drop", [False, True], ids=["cut-file", "dropped-connection"])
def test_a_cut_report_is_never_saved_and_is_fetched_again(make_sandbox, tmp_path: Path, drop: bool) -> None:
    # the first two reports come cut in half: a short file whose size the server admits
    # (no %%EOF), or a connection that closes half-way through a file announced whole
    sb = make_sandbox(vehicles=6, pdf_delay_ms=50, jd_user=USER, jd_pass=PASSWORD)
    sb.truncate("/reports/*", 2, drop=drop)
    result = _jdpower(sb, tmp_path, "-s", "CONCURRENT_CONTEXTS=2")
    assert result.returncode == 0, result.output[-3000:]
    rows = _rows(tmp_path)
    assert [r[1] for r in rows] == ["done"] * 6
    for _, _, path, size, sha256, _ in rows:
        data = Path(path).read_bytes()
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256)
    assert sorted(p.name for p in (tmp_path / "downloads").rglob("*.pdf")) == sorted(
        f"{r[0]}.pdf" for r in rows
    )
    assert not list((tmp_path / "downloads").rglob("*.part"))
    assert sb.stats()["resources"]["pdf"]["repeated"] == 2  # the two cut ones, fetched again
    warned = re.findall(r"WARNING: Vehicle (JDP-\d+): (.*)", result.output)
    assert len(warned) == 2, result.output[-3000:]
    if not drop:
        assert all("no %%EOF" in reason for _, reason in warned), warned


def test_a_browser_that_dies_is_launched_again_and_loses_no_vehicle(make_sandbox, tmp_path: Path) -> None:
    import psutil

    sb = make_sandbox(vehicles=16, pdf_delay_ms=600, jd_user=USER, jd_pass=PASSWORD)
    log = tmp_path / "run.log"
    proc = _start_jdpower(sb, tmp_path, log, "-s", "CONCURRENT_CONTEXTS=2")
    _wait_for_pdfs(sb, 4)
    # the browser's main process: the one whose parent is Playwright's driver
    browsers = []
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if "chrom" in child.name() and "--type=" not in " ".join(child.cmdline()):
                browsers.append(child)
        except psutil.Error:  # a renderer that just ended (a zombie until reaped)
            continue
    assert browsers, "no browser process found"
    for browser in browsers:
        browser.send_signal(signal.SIGKILL)  # as an out-of-memory kill would
    assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    assert [r[1] for r in _rows(tmp_path)] == ["done"] * 16
    files = sorted(p.name for p in (tmp_path / "downloads").rglob("*.pdf"))
    assert files == sorted(f"{r[0]}.pdf" for r in _rows(tmp_path))
    (metrics_file,) = (tmp_path / "downloads").rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    assert metrics["browser_restarts"] >= 1 and metrics["succeeded"] == 16


def test_a_full_report_folder_stops_with_one_line_and_the_next_run_finishes(
    make_sandbox, small_disk, tmp_path: Path
) -> None:
    sb = make_sandbox(vehicles=10, pdf_delay_ms=50, jd_user=USER, jd_pass=PASSWORD)
    folder = small_disk.mount(tmp_path / "downloads", 64)  # room for two or three 20 KB reports

    full = _jdpower(sb, tmp_path, "-s", "CONCURRENT_CONTEXTS=2")

    assert full.returncode == 1, full.output[-3000:]
    errors = [line for line in full.output.splitlines() if "] ERROR: " in line]
    assert len(errors) == 1, errors
    assert f"No space left in {folder}" in errors[0] and "(JDPOWER_OUTPUT_DIR, " in errors[0]
    assert "Traceback" not in full.output
    done = [r for r in _rows(tmp_path) if r[1] == "done"]
    assert 0 < len(done) < 10
    for _, _, path, size, sha256, _ in done:  # what is recorded is whole on disk
        data = Path(path).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (size, sha256)
    assert not list(folder.rglob("*.part"))
    fetched = sb.stats()["resources"]["pdf"]["unique"]

    small_disk.grow(folder, 4096)
    again = _jdpower(sb, tmp_path, "-s", "CONCURRENT_CONTEXTS=2")

    assert again.returncode == 0, again.output[-3000:]
    rows = _rows(tmp_path)
    assert [r[1] for r in rows] == ["done"] * 10
    # the reports saved are never fetched again; those the disk had no room for are
    assert sb.stats()["resources"]["pdf"]["repeated"] == fetched - len(done)
