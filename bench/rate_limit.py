"""Benchmark: `scrapy crawl pins` against a site that allows R requests/s and answers 429 above.

    python bench/rate_limit.py [--pins 2000] [--rate-limit 50] [--concurrency 16]

The issue's targets: every pin stored, at no less than 85% of R pins/s (the whole command,
start-up included), and fewer than 5% of the crawl's API requests answered 429.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import count_complete_pins, pins_crawl_args, run_crawl, save_results
from sandbox.process import SandboxProcess

API = ("www.pinterest.com", "/resource/PinResource/get/")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pins", type=int, default=2000)
    parser.add_argument("--rate-limit", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-ratelimit-"))
    ids_file = work / "ids.txt"
    ids_file.write_text("".join(f"{50_000_000 + i}\n" for i in range(args.pins)))
    db = work / "pins.sqlite3"
    with SandboxProcess(rate_limit=args.rate_limit) as sandbox:
        run, _ = run_crawl(pins_crawl_args(ids_file, db, sandbox.url, args.concurrency))
        refused = sandbox.count(*API, "429")
        requests_made = sandbox.count(*API)
    stored = count_complete_pins(db)
    rate = stored / run.wall_s
    share = rate / args.rate_limit
    refused_share = refused / requests_made if requests_made else 0.0
    ok = stored == args.pins and share >= 0.85 and refused_share < 0.05
    print(f"rate limit {args.rate_limit:.0f}/s, {args.concurrency} at once, {args.pins} pins")
    print(
        f"scrapy crawl: {stored} pins stored in {run.wall_s:.2f} s = {rate:.1f} pins/s = "
        f"{100 * share:.1f}% of the limit; {refused} of {requests_made} API requests answered 429 "
        f"({100 * refused_share:.2f}%)"
    )
    print(f"target: all pins, >= 85% of the limit, < 5% 429s -> {'MET' if ok else 'NOT MET'}")
    save_results(
        "rate_limit",
        {
            "args": vars(args),
            "stored": stored,
            "wall_s": round(run.wall_s, 2),
            "pins_per_s": round(rate, 2),
            "share_of_limit": round(share, 3),
            "refused": refused,
            "requests": requests_made,
            "refused_share": round(refused_share, 4),
            "ok": ok,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
