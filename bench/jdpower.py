"""Benchmark: `scrapy crawl jdpower` with 1 browser context, then with 5, in one run.

    python bench/jdpower.py [--vehicles 40] [--pdf-delay-ms 2000] [--contexts 5]

Each crawl starts from an empty database and output folder against the same sandbox, and is
timed as a whole command (interpreter start, browser start and login included). Printed: wall
time, reports saved and valid (%PDF ... %%EOF, distinct SHA-256), peak memory of the crawl
process, and the speed-up = wall time with 1 context / wall time with N. The two are run in
turn `--repeat` times (default 3) and the speed-up is that of their medians: on this 2-core
VM one crawl's wall time moves by up to 0.3 s from run to run, 0.07 on the ratio. The issue's
target: at least 4.5 with 5 contexts (the limit is 5), every PDF of every run valid and
distinct. Results go to bench/results/jdpower.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_crawl, save_results
from sandbox.process import SandboxProcess

USER, PASSWORD = "bench-user", "bench-pass"


def crawl(sandbox_url: str, work: Path, contexts: int) -> dict[str, Any]:
    run, _ = run_crawl(
        [
            "jdpower",
            "-s", f"CONCURRENT_CONTEXTS={contexts}",
            "-s", f"JDPOWER_BASE_URL={sandbox_url}",
            "-s", f"DATABASE_URL=sqlite:///{work / 'jd.sqlite3'}",
            "-s", f"JDPOWER_OUTPUT_DIR={work / 'downloads'}",
            "-s", f"METRICS_DIR={work / 'metrics'}",
            "-s", "LOG_LEVEL=WARNING",
        ],
        env={"JD_USER": USER, "JD_PASS": PASSWORD},
    )  # fmt: skip
    pdfs = sorted((work / "downloads").rglob("*.pdf"))
    valid = [p for p in pdfs if (d := p.read_bytes()).startswith(b"%PDF-") and b"%%EOF" in d[-1024:]]
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in valid}
    with sqlite3.connect(work / "jd.sqlite3") as conn:
        done = conn.execute("SELECT count(*) FROM vehicles WHERE status = 'done'").fetchone()[0]
    (metrics_file,) = (work / "downloads").rglob("metrics.json")
    return {
        "contexts": contexts,
        "wall_s": round(run.wall_s, 2),
        "pdfs": len(pdfs),
        "valid": len(valid),
        "distinct": len(digests),
        "done_in_db": done,
        "peak_rss_mb": round(run.peak_rss_mb or 0, 1),
        "metrics": json.loads(metrics_file.read_text()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vehicles", type=int, default=40)
    parser.add_argument("--pdf-delay-ms", type=float, default=2000)
    parser.add_argument("--contexts", type=int, default=5)
    parser.add_argument("--target", type=float, default=4.5)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, in turn (median)")
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    with SandboxProcess(
        vehicles=args.vehicles, pdf_delay_ms=args.pdf_delay_ms, jd_user=USER, jd_pass=PASSWORD
    ) as sandbox:
        for repeat in range(1, args.repeat + 1):
            for contexts in (1, args.contexts):
                work = Path(tempfile.mkdtemp(prefix=f"bench-jdpower-{contexts}-"))
                row = crawl(sandbox.url, work, contexts)
                rows.append(row)
                print(
                    f"run {repeat}, {contexts} context(s): {row['wall_s']:7.2f} s, "
                    f"{row['valid']}/{row['pdfs']} PDFs valid, {row['distinct']} distinct, "
                    f"{row['done_in_db']} done in the database, speedup_factor in metrics.json "
                    f"{row['metrics']['speedup_factor']}, "
                    f"peak RSS of the crawl {row['peak_rss_mb']} MB",
                    flush=True,
                )
    one = statistics.median(r["wall_s"] for r in rows if r["contexts"] == 1)
    many = statistics.median(r["wall_s"] for r in rows if r["contexts"] == args.contexts)
    speedup = one / many
    pairs = [a["wall_s"] / b["wall_s"] for a, b in zip(rows[::2], rows[1::2], strict=True)]
    complete = all(r["valid"] == r["distinct"] == r["done_in_db"] == args.vehicles for r in rows)
    ok = complete and speedup >= args.target
    print(
        f"median wall time: {one:.2f} s with 1 context, {many:.2f} s with {args.contexts} "
        f"(each run's speed-up: {', '.join(f'{p:.2f}x' for p in pairs)})"
    )
    print(
        f"speed-up with {args.contexts} contexts: {speedup:.2f}x (limit {args.contexts}) -> "
        f"{'MET' if ok else 'NOT MET'} (target {args.target}, all {args.vehicles} PDFs valid and distinct "
        f"in every run: {complete})"
    )
    results = {"args": vars(args), "rows": rows, "pairs": [round(p, 3) for p in pairs]}
    save_results("jdpower", {**results, "speedup": round(speedup, 3), "ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
