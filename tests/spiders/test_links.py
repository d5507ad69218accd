"""`scrapy crawl links` end to end, in a child process as a user runs it, against the sandbox."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.conftest import crawl, db_rows, interrupt, start_crawl
from tests.databases import Database, database

MIXED = [
    {"id": "v1", "url": "https://www.youtube.com/watch?v=abcdefghijk"},
    {"id": "v2", "url": "https://youtu.be/video000001"},
    {"id": "c1", "url": "https://www.youtube.com/watch?v=abcdefghijk", "type": "youtube_comments"},
    {"id": "p1", "url": "https://www.youtube.com/watch?v=privateAAAA"},
    {"id": "b1", "url": "https://www.bilibili.com/video/BV1xx411c7mD"},
    {"id": "b2", "url": "https://b23.tv/xYz12AB"},
    {"id": "b3", "url": "https://www.bilibili.com/video/BV1hidaaaaaa"},
    {"id": "b4", "url": "https://www.bilibili.com/video/BV1rskaaaaaa"},
    {"id": "r1", "url": "https://old.reddit.com/r/travel/comments/abc123/some_title/"},
    {"id": "r2", "url": "https://redd.it/deep1"},
    {"id": "a1", "url": "https://news.example.com/2024/story-1.html"},
    {"id": "a2", "url": "https://news.example.com/report.pdf"},
    {"id": "x1", "url": "file:///etc/passwd"},
    {"id": "x2", "url": "http://10.0.0.1/admin"},
    {"id": "x3", "url": "https://t.example/go?to=http://127.0.0.1:9/"},
    {"id": "x4", "url": "gopher://example.com/"},
    "a line that is not a link",
]


def _batch(path: Path, links: list, batch_id: str = "mixed") -> Path:
    path.write_text(json.dumps({"batch_id": batch_id, "links": links}))
    return path


def _tasks(db: Database) -> dict[str, tuple]:
    rows = db_rows(db, "SELECT key, kind, state, attempts, error, result_ref FROM tasks ORDER BY id")
    return {row[0]: row[1:] for row in rows}


def test_a_mixed_batch_each_link_its_result_or_its_reason(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(latency_ms=20, eu_consent=1)  # YouTube's consent page to a visitor without SOCS
    batch = _batch(tmp_path / "batch.json", MIXED)
    db = database(tmp_path)
    feed, progress = tmp_path / "results.jsonl", tmp_path / "progress.jsonl"
    args = ("-a", f"batch={batch}", "-s", "CONCURRENT_REQUESTS=8", "-s", f"PROGRESS_FILE={progress}")
    result = crawl("links", *args, "-O", str(feed), sandbox_url=sb.url, db=db)
    assert result.returncode == 0, result.output[-3000:]
    assert "link 17: not an object" in result.output  # the bad line, named; the rest went on

    tasks = _tasks(db)
    done = {key for key, (_, state, *_rest) in tasks.items() if state == "completed"}
    assert done == {"v1", "v2", "c1", "b1", "b2", "b4", "r1", "r2", "a1"}
    reasons = {key: row[3] for key, row in tasks.items() if row[1] == "failed"}
    assert reasons["p1"].startswith("private: Private video")
    assert reasons["b3"] == "Bilibili 62002: hidden"
    assert reasons["a2"].startswith("not an HTML page: the server says it is 'application/pdf'")
    assert reasons["x1"] == "'file:///etc/passwd': only http and https links are fetched, not 'file'"
    assert reasons["x4"].endswith("not 'gopher'")
    assert reasons["x2"] == "http://10.0.0.1/admin: a private address (10.0.0.1) is not fetched"
    # the redirect's hop to another loopback port, refused on its way
    assert reasons["x3"].startswith("http://127.0.0.1:9/: a loopback address (127.0.0.1) is not fetched")
    assert reasons["x3"].endswith("redirected from https://t.example/go?to=http://127.0.0.1:9/")

    results = dict(db_rows(db, "SELECT kind || ':' || id, data FROM link_results"))
    assert {ref for _, _, _, _, ref in tasks.values() if ref} == set(results)
    video = json.loads(results["youtube:abcdefghijk"])
    assert video["title"] and video["channel_handle"] and video["likes"] is not None
    comments = json.loads(results["youtube_comments:abcdefghijk"])
    assert comments["count_fetched"] == comments["count_shown"] > 0  # under max_comments: all of them
    assert (
        db_rows(db, "SELECT count(*) FROM link_comments WHERE kind = 'youtube_comments'")[0][0]
        == comments["count_fetched"]
    )
    # the deep thread: every comment, through its more and continue-this-thread stubs
    assert db_rows(db, "SELECT count(*) FROM link_comments WHERE thread_id = 'deep1'")[0][0] == 400
    # each comment one deeper than its parent, through the continued pages (which count from 0)
    query = "SELECT id, parent_id, data FROM link_comments WHERE thread_id = 'deep1'"
    tree = {cid: (parent, json.loads(data)["depth"]) for cid, parent, data in db_rows(db, query)}
    for cid, (parent, depth) in tree.items():
        expected = 0 if parent.startswith("t3_") else tree[parent.removeprefix("t1_")][1] + 1
        assert depth == expected, (cid, parent, depth)
    assert max(depth for _, depth in tree.values()) == 14
    # every task that ran says which worker ran it
    assert db_rows(db, "SELECT count(*) FROM tasks WHERE kind IS NOT NULL AND worker_slot IS NULL") == [(0,)]
    assert json.loads(results["bilibili:BV1rskaaaaaa"])["views"] > 0  # after risk control twice
    article = json.loads(results["article:https://news.example.com/2024/story-1.html"])
    assert "Café crème." in article["text"] and "All rights reserved" not in article["text"]

    # the feed: the results, as Scrapy users expect, without the tasks' bookkeeping
    lines = [json.loads(line) for line in feed.read_text().splitlines()]
    assert not any("owner" in line for line in lines)
    assert {line.get("bvid") for line in lines if "bvid" in line} == {
        "BV1xx411c7mD",
        "BV1rskaaaaaa",
        *[r.split(":", 1)[1] for r in results if r.startswith("bilibili:")],
    }
    # the progress file: each task started once and ended once, with its worker slot
    events = [json.loads(line) for line in progress.read_text().splitlines()]
    started = Counter(e["task"] for e in events if e["state"] == "processing")
    ended = Counter(e["task"] for e in events if e["state"] in ("completed", "failed"))
    assert set(started) == set(ended) == set(tasks) - {"x1", "x4"}
    assert set(started.values()) == set(ended.values()) == {1}
    assert all(0 <= e["worker_slot"] < 8 for e in events if "worker_slot" in e)
    metrics = json.loads(next((db.folder / "metrics").glob("links-*.json")).read_text())["tasks"]
    assert metrics["per_type"]["reddit"]["completed"] == 2 and metrics["report"].endswith(".html")

    # the same command again: nothing fetched again
    before = sb.stats()["total"]
    again = crawl("links", *args, sandbox_url=sb.url, db=db)
    assert again.returncode == 0 and sb.stats()["total"] == before
    # retry_failed=1: the failed ones are tried again, and fail again for the same reasons
    retried = crawl("links", *args, "-a", "retry_failed=1", sandbox_url=sb.url, db=db)
    assert retried.returncode == 0
    after = _tasks(db)
    assert {key: row[3] for key, row in after.items() if row[1] == "failed"} == reasons
    assert after["p1"][2] == 2 and after["v1"][2] == 1  # attempts


_LOOK_AT_REPORT = """
import json, sys
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=sys.argv[2], args=["--no-sandbox"])
    page = browser.new_page()
    page.goto(sys.argv[1])
    seen = {
        "title": page.title(),
        "throughput": page.locator("#throughput polyline.series").count(),
        "in_flight": page.locator("#in-flight polyline.series").count(),
        "bars": page.locator("#durations rect.bar").evaluate_all("bars => bars.map(b => b.dataset.type)"),
        "rows": page.locator("#per-type tr").count(),
        "width": page.locator("#throughput").bounding_box()["width"],
    }
    browser.close()
print(json.dumps(seen))
"""


def test_the_run_report_opens_in_headless_chromium(sandbox, tmp_path: Path) -> None:
    batch = _batch(tmp_path / "b.json", MIXED[:12], "report")
    db = database(tmp_path)
    assert crawl("links", "-a", f"batch={batch}", sandbox_url=sandbox.url, db=db).returncode == 0
    report = next((db.folder / "metrics").glob("links-report-*.html"))
    assert report.read_bytes().isascii()
    chromium = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    assert chromium, "chromium is not installed: run `make setup`"
    # in a process of its own: the test session's reactor already runs an asyncio loop
    looked = subprocess.run(
        [sys.executable, "-c", _LOOK_AT_REPORT, report.as_uri(), chromium],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert looked.returncode == 0, looked.stderr[-2000:]
    seen = json.loads(looked.stdout)
    assert seen["title"] == "links: batch report"
    assert (seen["throughput"], seen["in_flight"], seen["rows"]) == (1, 2, 6)
    assert set(seen["bars"]) == {"youtube", "youtube_comments", "bilibili", "reddit", "article"}
    assert seen["width"] > 600


def test_ctrl_c_halfway_then_the_same_command_finishes_every_link_once(make_sandbox, tmp_path: Path) -> None:
    sb = make_sandbox(latency_ms=150)
    links = [{"id": f"a{i}", "url": f"https://blog{i % 7}.example.org/post/{i}"} for i in range(80)]
    links += [{"id": f"b{i}", "url": f"https://www.bilibili.com/video/BV1{i:09d}"} for i in range(40)]
    batch = _batch(tmp_path / "half.json", links, "half")
    db = database(tmp_path)
    args = ("-a", f"batch={batch}", "-s", "CONCURRENT_REQUESTS=4")
    proc = start_crawl("links", *args, sandbox_url=sb.url, db=db, log=tmp_path / "first.log")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sb.stats()["total"] < 40:
        time.sleep(0.1)
    interrupt(proc)
    assert proc.wait(timeout=60) == 0, (tmp_path / "first.log").read_text()[-3000:]
    states = Counter(row[1] for row in _tasks(db).values())
    assert states["cancelled"] > 0 and states["completed"] > 0 and states["processing"] == 0
    assert states["pending"] == 0  # not started: cancelled for this run
    second = crawl("links", *args, sandbox_url=sb.url, db=db)
    assert second.returncode == 0, second.output[-3000:]
    tasks = _tasks(db)
    assert {row[1] for row in tasks.values()} == {"completed"}
    assert len({row[4] for row in tasks.values()}) == 120  # each link its own result
    assert db_rows(db, "SELECT count(*) FROM link_results")[0][0] == 120
    fetched = sb.stats()["resources"]
    # each page fetched once, but those in flight at the Ctrl+C (finished, their task cancelled
    # with them only when a follow-up request was still to come: none here)
    assert fetched["article"]["repeated"] == 0 and fetched["bilibili"]["repeated"] == 0


def test_two_runs_at_once_on_one_batch_complete_each_task_once(make_sandbox, tmp_path: Path) -> None:
    # 2,000 tasks answered at once (latency 0), two runs of the same batch claiming from it
    sb = make_sandbox()
    links = [{"id": f"b{i}", "url": f"https://www.bilibili.com/video/BV1{i:09d}"} for i in range(1000)]
    links += [{"id": f"v{i}", "url": f"https://www.youtube.com/watch?v=vid{i:08d}"} for i in range(1000)]
    batch = _batch(tmp_path / "many.json", links, "many")
    db = database(tmp_path)
    runs = [
        start_crawl(
            "links",
            "-a",
            f"batch={batch}",
            "-s",
            "CONCURRENT_REQUESTS=16",
            "-s",
            f"PROGRESS_FILE={tmp_path / f'progress{n}.jsonl'}",
            sandbox_url=sb.url,
            db=db,
            log=tmp_path / f"run{n}.log",
        )
        for n in (1, 2)
    ]
    for n, run in enumerate(runs, start=1):
        assert run.wait(timeout=300) == 0, (tmp_path / f"run{n}.log").read_text()[-3000:]
    completions: Counter[str] = Counter()
    for n in (1, 2):
        for line in (tmp_path / f"progress{n}.jsonl").read_text().splitlines():
            event = json.loads(line)
            if event["state"] == "completed":
                completions[event["task"]] += 1
    assert len(completions) == 2000 and set(completions.values()) == {1}
    tasks = _tasks(db)
    assert {row[1] for row in tasks.values()} == {"completed"} and {row[2] for row in tasks.values()} == {1}
    assert db_rows(db, "SELECT count(*) FROM link_results")[0][0] == 2000
    assert sb.stats()["resources"]["bilibili"]["repeated"] == 0
    assert sb.stats()["resources"]["youtube"]["repeated"] == 0


def test_a_batch_that_cannot_be_read_is_one_line_and_nothing_starts(tmp_path: Path) -> None:
    db = database(tmp_path)
    missing = crawl("links", "-a", f"batch={tmp_path / 'nope.json'}", sandbox_url=None, db=db)
    assert missing.returncode == 2
    assert (
        missing.stderr.strip().splitlines()[-1]
        == f"error: links: batch {str(tmp_path / 'nope.json')!r} does not exist"
    )
    nameless = tmp_path / "nameless.json"
    nameless.write_text('{"links": [{"url": "https://example.com/"}]}')
    refused = crawl("links", "-a", f"batch={nameless}", sandbox_url=None, db=db)
    assert refused.returncode == 2 and 'no "batch_id"' in refused.stderr.strip().splitlines()[-1]
    unknown = crawl("links", "-a", f"batch={nameless}", "-a", "sort=oldest", sandbox_url=None, db=db)
    assert unknown.returncode == 2 and "sort must be top or new, got 'oldest'" in unknown.stderr


def test_reddit_rate_headers_and_bilibili_risk_control_slow_their_sites(make_sandbox, tmp_path: Path) -> None:
    # Reddit allows 30 requests in 3 s windows, and says what remains; Bilibili answers a third
    # of its asks with risk control (-352)
    sb = make_sandbox(reddit_quota=30, reddit_window_s=3, bilibili_risk_rate=0.3, seed=5)
    links = [{"id": "deep", "url": "https://www.reddit.com/comments/deep7/x/"}]
    links += [{"id": f"r{i}", "url": f"https://redd.it/thr{i}"} for i in range(10)]
    links += [{"id": f"b{i}", "url": f"https://www.bilibili.com/video/BV1{i:09d}"} for i in range(20)]
    db = database(tmp_path)
    result = crawl(
        "links", "-a", f"batch={_batch(tmp_path / 'slow.json', links, 'slow')}", sandbox_url=sb.url, db=db
    )
    assert result.returncode == 0, result.output[-3000:]
    assert {row[1] for row in _tasks(db).values()} == {"completed"}
    assert db_rows(db, "SELECT count(*) FROM link_comments WHERE thread_id = 'deep7'")[0][0] == 400
    requests = sb.stats()["requests"]
    reddit = sum(
        sum(counts.values()) for route, counts in requests.items() if route.startswith("www.reddit.com")
    )
    refused = sum(
        counts.get("429", 0) for route, counts in requests.items() if route.startswith("www.reddit.com")
    )
    assert "'throttle/quota_paced'" in result.output
    assert refused <= 0.1 * reddit, (refused, reddit)  # paced by the headers, rarely refused
    assert "'throttle/slow_down'" in result.output  # risk control met, and waited out
