"""Benchmark: the real Pinterest workload, end to end, against the sandbox.

    python bench/workload.py [--pins 48382] [--latency-ms 50] [--concurrency 16]

1. `scrapy crawl pins_search -a keyword=K` collects N pins (25 a page, one page after another);
2. `scrapy crawl pins -a keyword=K` fetches every pin's details and downloads its image.
Step 2 needs two requests per pin, so its limit is 2 * N * latency / concurrency seconds; the
issue's targets: every pin with details and an image file, within 1.15 x that limit, and the
crawl's peak memory under 300 MB.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_crawl, save_results
from sandbox.process import SandboxProcess

KEYWORD = "wingsuit"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pins", type=int, default=48_382)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-workload-"))
    db = work / "pins.sqlite3"
    outputs = [
        "-s", f"DATABASE_URL=sqlite:///{db}",
        "-s", f"FILES_STORE={work / 'images'}",
        "-s", f"METRICS_DIR={work / 'metrics'}",
        "-s", "LOG_LEVEL=WARNING",
    ]  # fmt: skip
    with SandboxProcess(latency_ms=args.latency_ms, search_results=args.pins) as sandbox:
        site = ["-s", f"SANDBOX_URL={sandbox.url}"]
        search, _ = run_crawl(["pins_search", "-a", f"keyword={KEYWORD}", *site, *outputs])
        workflow, _ = run_crawl(
            [
                "pins",
                "-a",
                f"keyword={KEYWORD}",
                "-s",
                f"CONCURRENT_REQUESTS={args.concurrency}",
                *site,
                *outputs,
            ]
        )
    with sqlite3.connect(db) as conn:
        total, details, images = conn.execute(
            "SELECT count(*), sum(details_fetched_at IS NOT NULL), sum(image_path IS NOT NULL) FROM pins"
        ).fetchone()
    files = sum(1 for p in (work / "images").rglob("*") if p.is_file())
    limit = 2 * args.pins * args.latency_ms / 1000 / args.concurrency
    ratio = workflow.wall_s / limit
    memory = workflow.peak_rss_mb or 0.0
    ok = total == details == images == files == args.pins and ratio <= 1.15 and memory < 300
    print(f"workload: {args.pins} pins, latency {args.latency_ms:.0f} ms, {args.concurrency} at once")
    print(f"pins_search: {total} pins collected in {search.wall_s:.1f} s")
    print(
        f"pins (details + images): {workflow.wall_s:.1f} s, limit {limit:.1f} s -> {ratio:.3f} x; "
        f"{details} with details, {images} images recorded, {files} files; peak RSS {memory:.0f} MB"
    )
    print(f"target: all pins complete, <= 1.15 x the limit, < 300 MB -> {'MET' if ok else 'NOT MET'}")
    save_results(
        "workload",
        {
            "args": vars(args),
            "search_s": round(search.wall_s, 1),
            "workflow_s": round(workflow.wall_s, 1),
            "limit_s": round(limit, 1),
            "ratio": round(ratio, 3),
            "pins": total,
            "details": details,
            "images": images,
            "files": files,
            "peak_rss_mb": round(memory, 1),
            "ok": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
