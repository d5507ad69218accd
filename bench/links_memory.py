"""Benchmark: the peak memory of `scrapy crawl links` on a 100,000-link batch.

    python bench/links_memory.py [--links 100000] [--workers 16]

The batch (a JSON file, Bilibili videos and YouTube pages in turn) streams into the task table
and the crawl works through it against the sandbox at 0 ms; the crawl process's resident
memory is sampled every 0.5 s (bench/common.py). Beside it, the same crawl on a batch a tenth
the size, for the growth: a crawl whose memory grew with the batch would show it there.
Target: peak under 300 MB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import links_crawl_args, links_task_states, run_crawl, save_results
from sandbox.process import SandboxProcess


def batch(path: Path, n: int) -> Path:
    with path.open("w") as out:
        out.write('{"batch_id": "memory", "links": [')
        for i in range(n):
            url = (
                f"https://www.bilibili.com/video/BV1{i:09d}"
                if i % 2
                else f"https://www.youtube.com/watch?v=m{i:010d}"
            )
            out.write(("," if i else "") + json.dumps({"id": f"l{i}", "url": url}))
        out.write("]}")
    return path


def one(n: int, workers: int, folder: Path, sandbox_url: str) -> dict:
    folder.mkdir()
    db = folder / "links.sqlite3"
    run, _ = run_crawl(links_crawl_args(batch(folder / "batch.json", n), db, sandbox_url, workers))
    states = links_task_states(db)
    return {
        "links": n,
        "tasks": states,
        "wall_s": round(run.wall_s, 1),
        "tasks_per_s": round(n / run.wall_s, 1),
        "peak_rss_mb": round(run.peak_rss_mb or 0, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--links", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-links-memory-") as tmp, SandboxProcess(cpu=1) as sandbox:
        small = one(args.links // 10, args.workers, Path(tmp) / "small", sandbox.url)
        print(json.dumps({"tenth": small}), flush=True)
        large = one(args.links, args.workers, Path(tmp) / "large", sandbox.url)
        print(json.dumps({"whole": large}), flush=True)
    met = large["peak_rss_mb"] < 300 and large["tasks"].get("completed", 0) == args.links
    results = {
        "tenth": small,
        "whole": large,
        "growth_mb": round(large["peak_rss_mb"] - small["peak_rss_mb"], 1),
        "met": met,
    }
    print(f"peak {large['peak_rss_mb']} MB for {args.links} links ({small['peak_rss_mb']} MB for a tenth)")
    print(f"{'MET    ' if met else 'NOT MET'} peak memory under 300 MB, every link completed")
    print(f"saved: {save_results('links_memory', results)}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
