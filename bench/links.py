"""`scrapy crawl links` on a mixed batch against the sandbox, beside the design it replaces.

    python bench/links.py [--links 500] [--workers 8]

Per-type latencies (sandbox --site-latency-ms): YouTube pages 300 ms, the comments API 200 ms,
Bilibili's API 100 ms, Reddit 400 ms, articles 600 ms (every one between 50 and 800 ms).
Prints, for the crawl: tasks ended completed or failed (none pending or processing), pages
fetched more than once (the sandbox's counters), the utilisation while work was queued (the
run's metrics), and its busy time (the sandbox's first request to its last answer) against
the pool limit, the sum of the tasks' request times (the sandbox's time-weighted requests
held) over the workers. Then the old design on the same batch in the same run: one thread per
type, `requests`, each type's links one after the other; and the speed-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import links_crawl_args, links_task_states, run_crawl, save_results
from sandbox.process import SandboxProcess

LATENCY_MS = {"youtube": 300, "youtube_comments": 200, "bilibili": 100, "reddit": 400, "article": 600}
MAX_COMMENTS = 100


def mixed_batch(n: int) -> list[dict[str, str]]:
    """`n` links, the types in turn (3 videos, 1 comments, 2 Bilibili, 2 Reddit, 2 articles in
    10), a few that the sites refuse among them."""
    pattern = ["youtube", "bilibili", "article", "reddit", "youtube", "youtube_comments", "bilibili",
               "reddit", "article", "youtube"]  # fmt: skip
    links = []
    for i in range(n):
        kind = pattern[i % len(pattern)]
        if kind == "youtube":
            video = f"privateA{i % 1000:03d}" if i % 97 == 0 else f"v{i:010d}"
            links.append({"id": f"l{i}", "url": f"https://www.youtube.com/watch?v={video}"})
        elif kind == "youtube_comments":
            links.append({"id": f"l{i}", "url": f"https://youtu.be/c{i:010d}", "type": "youtube_comments"})
        elif kind == "bilibili":
            bvid = f"BV1hid{i:06d}" if i % 89 == 0 else f"BV1{i:09d}"
            links.append({"id": f"l{i}", "url": f"https://www.bilibili.com/video/{bvid}"})
        elif kind == "reddit":
            links.append({"id": f"l{i}", "url": f"https://www.reddit.com/r/travel/comments/t{i}/x/"})
        else:
            links.append({"id": f"l{i}", "url": f"https://blog{i % 13}.example.org/{i}/story.html"})
    return links


# --- the old design: one thread per type, each type's links one after the other ---------------


def _old_worker(kind: str, links: list[dict[str, str]], sandbox_url: str, done: Counter[str]) -> None:
    import requests
    from scrapy.http import HtmlResponse

    from crawler.sites import articles, bilibili, classify, reddit, youtube, youtube_comments

    http = requests.Session()

    def get(url: str, **headers: str) -> requests.Response:
        host = url.split("/")[2]
        path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
        return http.get(sandbox_url + path, headers={"X-Forwarded-Host": host, **headers}, timeout=30)

    def post(url: str, body: bytes) -> requests.Response:
        path = "/" + url.split("/", 3)[3]
        headers = {"X-Forwarded-Host": "www.youtube.com", "Content-Type": "application/json"}
        return http.post(sandbox_url + path, data=body, headers=headers, timeout=30)

    for link in links:
        found = classify(link["url"], link.get("type"))
        if kind == "youtube":
            page = get(youtube.watch_url(found.id or ""))
            video = youtube.parse_watch(page.text)
            if not isinstance(video, youtube.Refused) and video.captions:
                track = sorted(video.captions, key=lambda t: t.auto_generated)[0]
                video.transcript = youtube.parse_transcript(get(track.url + "&fmt=json3").content)
        elif kind == "youtube_comments":
            page = get(youtube.watch_url(found.id or ""))
            context = youtube_comments.innertube_context(page.text) or {}
            token = youtube_comments.section_token(
                post(
                    youtube_comments.NEXT_URL, youtube_comments.next_body(context, video_id=found.id)
                ).content
            )
            tokens, fetched = [token] if token else [], 0
            while tokens and fetched < MAX_COMMENTS:
                comments = youtube_comments.parse_page(
                    post(
                        youtube_comments.NEXT_URL, youtube_comments.next_body(context, token=tokens.pop(0))
                    ).content,
                    found.id or "",
                )
                fetched += len(comments.comments)
                tokens = (
                    list(comments.reply_tokens.values())
                    + ([comments.next_token] if comments.next_token else [])
                    + tokens
                )
        elif kind == "bilibili":
            bilibili.parse_view(get(bilibili.view_url(found.id or ""), **bilibili.HEADERS).content)
        elif kind == "reddit":
            # the whole tree, as the crawl fetches it: more stubs (their answers may hold more)
            # and continued threads, one request after the other
            agent = {"User-Agent": reddit.USER_AGENT}
            thread_id = found.id or ""
            part = reddit.parse_thread(get(reddit.thread_url(thread_id), **agent).content)
            more, continued = list(part.more), list(part.continued)
            while more or continued:
                if more:
                    ids = more.pop(0)
                    more[:0] = [ids[100:]] if ids[100:] else []
                    answer = get(reddit.more_url(thread_id, ids[:100]), **agent)
                    part = reddit.parse_more(answer.content, thread_id)
                else:
                    answer = get(reddit.continued_url(thread_id, continued.pop(0)), **agent)
                    part = reddit.parse_thread(answer.content)
                more += part.more
                continued += part.continued
        else:
            answer = get(link["url"])
            response = HtmlResponse(
                link["url"],
                body=answer.content,
                headers={"Content-Type": answer.headers.get("Content-Type", "")},
            )
            articles.parse_article(link["url"], response.text)
        done[kind] += 1


def old_design(sandbox_url: str, links: list[dict[str, str]]) -> dict[str, Any]:
    from crawler.sites import classify

    by_kind: dict[str, list[dict[str, str]]] = {}
    for link in links:
        by_kind.setdefault(classify(link["url"], link.get("type")).kind, []).append(link)
    done: Counter[str] = Counter()
    started = time.perf_counter()
    threads = [
        threading.Thread(target=_old_worker, args=(kind, kind_links, sandbox_url, done))
        for kind, kind_links in by_kind.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"wall_s": round(time.perf_counter() - started, 3), "done": dict(done)}


# --- the crawl --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--links", type=int, default=500)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    latency = ",".join(f"{site}={ms}" for site, ms in LATENCY_MS.items())
    links = mixed_batch(args.links)
    with tempfile.TemporaryDirectory(prefix="bench-links-") as tmp:
        folder = Path(tmp)
        batch = folder / "batch.json"
        batch.write_text(json.dumps({"batch_id": "bench", "links": links}))
        db = folder / "links.sqlite3"
        with SandboxProcess(site_latency_ms=latency, cpu=1) as sandbox:
            more = ("-a", f"max_comments={MAX_COMMENTS}")
            run, _ = run_crawl(links_crawl_args(batch, db, sandbox.url, args.workers, *more))
            served = sandbox.stats()
            sandbox.reset()
            old = old_design(sandbox.url, links)
        states = links_task_states(db)
        metrics = json.loads(next((folder / "metrics").glob("links-*.json")).read_text())["tasks"]
    # the sandbox's time-weighted requests held = the sum of every request's time there
    request_time = served["mean_inflight"] * served["busy_s"]
    pool_limit = request_time / args.workers
    repeated = {kind: figures["repeated"] for kind, figures in served["resources"].items()}
    results = {
        "links": args.links,
        "workers": args.workers,
        "latency_ms": LATENCY_MS,
        "tasks": states,
        "pages_fetched_again": repeated,
        "utilisation_while_queued": metrics["utilisation_while_queued"],
        "sum_of_request_times_s": round(request_time, 3),
        "pool_limit_s": round(pool_limit, 3),
        "crawl_busy_s": served["busy_s"],
        "busy_vs_pool_limit": round(served["busy_s"] / pool_limit, 4),
        "whole_command_s": round(run.wall_s, 3),
        "tasks_per_minute": metrics["tasks_per_minute"],
        "per_type": metrics["per_type"],
        "old_design_s": old["wall_s"],
        "speed_up_busy": round(old["wall_s"] / served["busy_s"], 3),
        "speed_up_whole_command": round(old["wall_s"] / run.wall_s, 3),
        "peak_rss_mb": round(run.peak_rss_mb or 0, 1),
    }
    ended = states.get("completed", 0) + states.get("failed", 0)
    checks = {
        "every task completed or failed": ended == args.links and ended == sum(states.values()),
        "each page fetched once": not any(repeated.values()),
        "utilisation >= 95% while queued": (metrics["utilisation_while_queued"] or 0) >= 0.95,
        "busy time <= 1.10 x pool limit": served["busy_s"] <= 1.10 * pool_limit,
    }
    print(json.dumps(results, indent=2))
    for check, ok in checks.items():
        print(f"{'MET    ' if ok else 'NOT MET'} {check}")
    print(f"saved: {save_results('links', {**results, 'checks': checks})}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
