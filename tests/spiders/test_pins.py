"""`scrapy crawl pins` end to end, in a child process as a user runs it, against the sandbox."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import CrawlResult, crawl, db_rows, interrupt, start_crawl, write_ids
from tests.databases import Database, database

API = ("www.pinterest.com", "/resource/PinResource/get/")
NO_BROWSER = ("-s", "BROWSER_ENABLED=False")


def test_crawl_stores_details_and_refusals_through_faults(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(missing_rate=0.1, error_rate=0.05, truncate_rate=0.03, jitter_ms=20, seed=7)
    ids = write_ids(tmp_path / "ids.txt", range(100_000, 100_300))
    db = database(tmp_path)
    result = crawl(
        "pins", "-a", f"ids_file={ids}", "-a", "keyword=cats", *NO_BROWSER, sandbox_url=sb.url, db=db
    )
    assert result.returncode == 0, result.output[-3000:]
    details = db_rows(
        db,
        "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL AND image_url IS NOT NULL"
        " AND title IS NOT NULL AND board_name IS NOT NULL AND saves IS NOT NULL",
    )[0][0]
    refused = db_rows(db, "SELECT count(*) FROM pins WHERE status = 'not_found'")[0][0]
    assert refused > 10
    # 500s and truncated bodies are retried (twice); a pin can still fail for good, rarely
    failed = 300 - details - refused
    assert failed <= 2, result.output[-3000:]
    assert db_rows(db, "SELECT DISTINCT keyword FROM pins") == [("cats",)]
    if sb.stats()["requests"][" ".join(API)].get("200", 0) > details:
        assert "Malformed answer for pin" in result.output
    # a refused pin is stored once and never asked for again
    before = sb.count(*API)
    again = crawl("pins", "-a", f"ids_file={ids}", *NO_BROWSER, sandbox_url=sb.url, db=db)
    assert again.returncode == 0
    assert sb.count(*API) - before == failed


def test_second_run_fetches_nothing(sandbox, tmp_path: Path) -> None:
    ids = write_ids(tmp_path / "ids.txt", range(200_000, 200_050))
    db = database(tmp_path)
    assert crawl("pins", "-a", f"ids_file={ids}", *NO_BROWSER, sandbox_url=sandbox.url, db=db).returncode == 0
    before = sandbox.count(*API)
    result = crawl("pins", "-a", f"ids_file={ids}", *NO_BROWSER, sandbox_url=sandbox.url, db=db)
    assert result.returncode == 0
    assert sandbox.count(*API) == before
    assert "Nothing to do" in result.output
    assert db_rows(db, "SELECT count(*) FROM pins")[0][0] == 50


def test_keyword_mode_fetches_that_keywords_pins_lacking_details(sandbox, tmp_path: Path) -> None:
    db = database(tmp_path)
    seed = write_ids(tmp_path / "seed.txt", [1])
    crawl("pins", "-a", f"ids_file={seed}", *NO_BROWSER, sandbox_url=sandbox.url, db=db)  # creates the schema
    dogs = ", ".join(f"('{i}', 'dogs')" for i in range(300_000, 300_030))
    db.execute(f"INSERT INTO pins (id, keyword) VALUES {dogs}, ('399999', 'cats')")
    result = crawl("pins", "-a", "keyword=dogs", *NO_BROWSER, sandbox_url=sandbox.url, db=db)
    assert result.returncode == 0, result.output[-2000:]
    assert db_rows(
        db, "SELECT count(*) FROM pins WHERE keyword='dogs' AND details_fetched_at IS NOT NULL"
    ) == [(30,)]
    assert db_rows(db, "SELECT details_fetched_at FROM pins WHERE id='399999'") == [(None,)]


def test_node_ids_and_urls_in_the_ids_file(sandbox, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("UGluOjUwMDAwMQ==\nhttps://www.pinterest.com/pin/500002/\n500003\n")
    db = database(tmp_path)
    assert crawl("pins", "-a", f"ids_file={ids}", *NO_BROWSER, sandbox_url=sandbox.url, db=db).returncode == 0
    assert db_rows(db, "SELECT id FROM pins ORDER BY id") == [("500001",), ("500002",), ("500003",)]


def test_missing_ids_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = crawl(
        "pins", "-a", f"ids_file={tmp_path / 'nope.txt'}", sandbox_url=None, db=tmp_path / "x.sqlite3"
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: pins: ids_file '{tmp_path / 'nope.txt'}' does not exist"
    ]
    assert not (tmp_path / "x.sqlite3").exists()


def test_empty_ids_file_is_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = crawl("pins", "-a", f"ids_file={empty}", sandbox_url=None)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: pins: ids_file '{empty}' is empty: it has no pin ids"
    ]


def test_bad_line_is_named_and_the_rest_is_crawled(sandbox, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("600001\nhello world\n600002\n")
    db = database(tmp_path)
    result = crawl("pins", "-a", f"ids_file={ids}", *NO_BROWSER, sandbox_url=sandbox.url, db=db)
    assert result.returncode == 0
    bad = [line for line in result.output.splitlines() if "] ERROR:" in line]
    assert len(bad) == 1
    assert bad[0].endswith(
        f"{ids}:2: 'hello world' is not a pin id (expected digits, a pin URL or a base64 "
        "node id); line skipped"
    )
    assert db_rows(db, "SELECT id FROM pins ORDER BY id") == [("600001",), ("600002",)]


def test_no_session_stops_the_crawl_with_one_error(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(error_rate=1.0)
    ids = write_ids(tmp_path / "ids.txt", range(700_000, 700_100))
    result = crawl(
        "pins",
        "-a",
        f"ids_file={ids}",
        *NO_BROWSER,
        "-s",
        "LOG_LEVEL=WARNING",
        sandbox_url=sb.url,
        db=database(tmp_path),
    )
    assert result.returncode == 1
    errors = [line for line in result.output.splitlines() if "Cannot start a Pinterest session" in line]
    assert len(errors) == 1
    assert "Pin 7000" not in result.output  # not one warning per pin
    assert sb.count(*API) == 0


def test_ctrl_c_then_resume_with_jobdir(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(latency_ms=100)
    ids = write_ids(tmp_path / "ids.txt", range(800_000, 800_600))
    db = database(tmp_path)
    jobdir = tmp_path / "job"
    args = (
        "pins",
        "-a",
        f"ids_file={ids}",
        "-s",
        f"JOBDIR={jobdir}",
        "-s",
        "CONCURRENT_REQUESTS=8",
        *NO_BROWSER,
    )
    proc = start_crawl(*args, sandbox_url=sb.url, db=db, log=tmp_path / "run1.log")
    deadline = time.monotonic() + 60
    while sb.count(*API) < 100 and time.monotonic() < deadline:
        time.sleep(0.1)
    interrupt(proc)
    assert proc.wait(timeout=60) == 0
    first = db_rows(db, "SELECT count(*) FROM pins")[0][0]
    assert 100 <= first < 600, (tmp_path / "run1.log").read_text()[-2000:]
    assert (jobdir / "requests.seen").exists()
    # the session (cookies, CSRF token) never reaches the JOBDIR
    token_bits = ("csrftoken", "X-CSRFToken", "_pinterest_sess")
    for file in jobdir.rglob("*"):
        if file.is_file():
            content = file.read_bytes()
            assert not any(bit.encode() in content for bit in token_bits), file

    sb.reset()
    result = crawl(*args, sandbox_url=sb.url, db=db)
    assert result.returncode == 0, result.output[-2000:]
    assert db_rows(db, "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL")[0][0] == 600
    stats = sb.stats()
    assert stats["resources"]["pin"]["repeated"] == 0  # no pin fetched twice in the second run
    assert stats["resources"]["pin"]["unique"] == 600 - first


def test_malformed_last_answer_is_retried_not_lost(make_sandbox, tmp_path: Path) -> None:
    # seed 1: the fault generator cuts the first API answer and not the second, so the only
    # pin's retry is yielded by the crawl's very last response
    sb = make_sandbox(truncate_rate=0.5, seed=1)
    ids = write_ids(tmp_path / "ids.txt", [424242])
    db = database(tmp_path)
    result = crawl("pins", "-a", f"ids_file={ids}", *NO_BROWSER, sandbox_url=sb.url, db=db)
    assert result.returncode == 0
    assert "Malformed answer for pin 424242" in result.output
    assert sb.count(*API, "200") == 2
    assert db_rows(db, "SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL") == [(1,)]


def test_progress_lines_and_metrics_json(make_sandbox, tmp_path: Path) -> None:
    import json

    sb = make_sandbox(latency_ms=100)
    ids = write_ids(tmp_path / "ids.txt", range(960_000, 960_120))
    metrics = tmp_path / "metrics"
    result = crawl(
        "pins",
        "-a",
        f"ids_file={ids}",
        "-a",
        "images=0",
        "-s",
        "CONCURRENT_REQUESTS=8",
        "-s",
        "PROGRESS_LOG_INTERVAL=0.3",
        "-s",
        f"METRICS_DIR={metrics}",
        *NO_BROWSER,
        sandbox_url=sb.url,
        db=database(tmp_path),
    )
    assert result.returncode == 0
    lines = [line.split("Progress: ", 1)[1] for line in result.output.splitlines() if "Progress: " in line]
    assert len(lines) >= 3
    assert all(line.isascii() for line in lines)
    assert "/120" in lines[-1] and "/s" in lines[-1]
    assert any("ETA" in line and "%" in line for line in lines)
    (file,) = metrics.glob("pins-*.json")
    data = json.loads(file.read_text())
    assert (data["spider"], data["finish_reason"], data["total"], data["done"], data["failed"]) == (
        "pins",
        "finished",
        120,
        120,
        0,
    )
    assert data["responses_by_status"]["200"] == 121  # the home page and 120 pins


def test_keyword_workflow_converts_node_ids_first(sandbox, tmp_path: Path) -> None:
    import base64

    db = database(tmp_path)
    seed = write_ids(tmp_path / "seed.txt", [1])
    crawl("pins", "-a", f"ids_file={seed}", *NO_BROWSER, sandbox_url=sandbox.url, db=db)
    node = base64.b64encode(b"Pin:970001").decode()
    db.execute(f"INSERT INTO pins (id, keyword) VALUES ('{node}', 'frogs'), ('970002', 'frogs')")
    result = crawl("pins", "-a", "keyword=frogs", *NO_BROWSER, sandbox_url=sandbox.url, db=db)
    assert result.returncode == 0
    assert "Converted 1 node ids to pin ids" in result.output
    assert db_rows(
        db, "SELECT id FROM pins WHERE keyword='frogs' AND details_fetched_at IS NOT NULL ORDER BY id"
    ) == [("970001",), ("970002",)]


def _kill_then_resume(
    sb, tmp_path: Path, how: int, after: float, dupefilter: str | None = None
) -> tuple[int, CrawlResult, Database]:
    """Crawl 1,500 pins with a JOBDIR, signal the crawl's process group `after` s into its API
    calls, then run the same command again. Returns (pins stored before, second run, db)."""
    import os

    ids = write_ids(tmp_path / "ids.txt", range(1_300_000, 1_301_500))
    db = database(tmp_path)
    args = ["pins", "-a", f"ids_file={ids}", "-s", f"JOBDIR={tmp_path / 'job'}", *NO_BROWSER]
    if dupefilter:
        args += ["-s", f"DUPEFILTER_CLASS={dupefilter}"]
    proc = start_crawl(*args, sandbox_url=sb.url, db=db, log=tmp_path / "run1.log")
    deadline = time.monotonic() + 60
    while sb.count(*API, "200") < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(after)
    os.killpg(proc.pid, how)
    proc.wait(timeout=60)
    before = db_rows(db, "SELECT count(*) FROM pins")[0][0]
    return before, crawl(*args, sandbox_url=sb.url, db=db), db


def test_kill_9_at_a_random_moment_loses_nothing(make_sandbox, tmp_path: Path) -> None:
    import random
    import signal

    sb = make_sandbox(latency_ms=50)
    moment = random.uniform(0.3, 3.0)
    before, again, db = _kill_then_resume(sb, tmp_path, signal.SIGKILL, moment)
    assert again.returncode == 0, again.output[-2000:]
    assert "was not closed cleanly" in again.output
    rows = db_rows(db, "SELECT count(*), count(DISTINCT id), count(details_fetched_at) FROM pins")
    assert rows == [(1500, 1500, 1500)], f"killed after {moment:.2f} s with {before} stored"


def test_a_clean_stop_keeps_the_jobdir(make_sandbox, tmp_path: Path) -> None:
    import signal

    sb = make_sandbox(latency_ms=50)
    _, again, db = _kill_then_resume(sb, tmp_path, signal.SIGINT, 1.0)
    assert again.returncode == 0
    assert "was not closed cleanly" not in again.output
    assert "Resuming crawl" in again.output
    assert db_rows(db, "SELECT count(*), count(DISTINCT id) FROM pins") == [(1500, 1500)]


def test_second_ctrl_c_exits_at_once(make_sandbox, tmp_path: Path) -> None:
    # answers take 10 s: one Ctrl+C would wait for the 16 in flight; the second must not
    sb = make_sandbox(latency_ms=10_000)
    ids = write_ids(tmp_path / "ids.txt", range(1_400_000, 1_400_100))
    db = database(tmp_path)
    args = ["pins", "-a", f"ids_file={ids}", "-s", f"JOBDIR={tmp_path / 'job'}", *NO_BROWSER]
    proc = start_crawl(*args, sandbox_url=sb.url, db=db, log=tmp_path / "run.log")
    time.sleep(2.5)  # started (about 1 s), 16 requests in flight
    interrupt(proc)
    time.sleep(0.5)
    assert proc.poll() is None  # the first one waits for the requests in flight
    second = time.monotonic()
    interrupt(proc)
    proc.wait(timeout=10)
    assert time.monotonic() - second < 3
    log = (tmp_path / "run.log").read_text()
    assert "Received SIGINT twice, forcing unclean shutdown" in log, log[-2000:]
    # nothing half-written: the next run of the same command finishes the work
    fast = make_sandbox()
    assert crawl(*args, sandbox_url=fast.url, db=db).returncode == 0
    assert db_rows(db, "SELECT count(*), count(DISTINCT id) FROM pins") == [(100, 100)]


def test_ids_file_run_records_images_missing_from_an_earlier_run(make_sandbox, tmp_path: Path) -> None:
    # what a kill -9 between a pin's details and its image leaves: details stored, no image
    sb = make_sandbox()
    ids = write_ids(tmp_path / "ids.txt", range(1_500_000, 1_500_020))
    db = database(tmp_path)
    first = crawl("pins", "-a", f"ids_file={ids}", "-a", "images=0", *NO_BROWSER, sandbox_url=sb.url, db=db)
    assert first.returncode == 0
    sb.reset()
    again = crawl("pins", "-a", f"ids_file={ids}", "-a", "images=1", *NO_BROWSER, sandbox_url=sb.url, db=db)
    assert again.returncode == 0, again.output[-2000:]
    assert sb.count(*API) == 0  # no details asked again
    rows = db_rows(db, "SELECT image_path FROM pins WHERE image_path IS NOT NULL")
    assert len(rows) == 20 and all(Path(p).is_file() for (p,) in rows)
