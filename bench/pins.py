"""Benchmark: `scrapy crawl pins` against the seeds' designs, all on one sandbox, in one run.

    python bench/pins.py [--pins 2000] [--latency-ms 200] [--concurrency 16] [--sequential-pins 100]

The limit for C requests at once to a server answering in L seconds is C / L pins/s, so the
ideal time for N pins is N * L / C. Printed: each client's wall time (the whole command, start-up
included), pins/s, share of the limit, and the ratio to the ideal time; the issue's target is
`scrapy crawl` within 1.11 x the ideal, judged on the median of --repeat runs (this machine's
timings drift by a few percent from run to run). The sequential loop runs on fewer pins (it needs
N * L seconds); its rate is what compares. Results also go to bench/results/pins.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    Run,
    count_complete_pins,
    pins_crawl_args,
    run_crawl,
    save_results,
    sequential_requests,
    thread_pool_requests,
)
from sandbox.process import SandboxProcess


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pins", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential-pins", type=int, default=100)
    parser.add_argument("--target", type=float, default=1.11, help="max ratio to the ideal time for scrapy")
    parser.add_argument("--repeat", type=int, default=3, help="scrapy runs; the median is judged")
    args = parser.parse_args()

    latency = args.latency_ms / 1000
    limit = args.concurrency / latency if latency else float("inf")
    work = Path(tempfile.mkdtemp(prefix="bench-pins-"))
    rows: list[dict[str, object]] = []

    def record(run: Run, stats: dict[str, object]) -> dict[str, object]:
        ideal = run.pins * latency / args.concurrency
        row = {
            "client": run.name,
            "pins": run.pins,
            "wall_s": round(run.wall_s, 2),
            "pins_per_s": round(run.rate, 1),
            "share_of_limit": round(run.rate / limit, 3) if latency else None,
            "ratio_to_ideal": round(run.wall_s / ideal, 3) if ideal else None,
            "cpu_ms_per_pin": round(1000 * run.cpu_s / run.pins, 2) if run.cpu_s else None,
            "peak_rss_mb": round(run.peak_rss_mb, 1) if run.peak_rss_mb else None,
            "server_mean_inflight": stats.get("mean_inflight"),
        }
        rows.append(row)
        return row

    with SandboxProcess(latency_ms=args.latency_ms) as sandbox:
        # 1. scrapy crawl pins, as the issue states it; several runs, the median decides
        scrapy_rows = []
        for attempt in range(args.repeat):
            ids_file = work / f"ids-{attempt}.txt"
            ids = [str(9_000_000 + attempt * 1_000_000 + i) for i in range(args.pins)]
            ids_file.write_text("\n".join(ids) + "\n")
            db = work / f"scrapy-{attempt}.sqlite3"
            sandbox.reset()
            run, _ = run_crawl(pins_crawl_args(ids_file, db, sandbox.url, args.concurrency))
            run.name = f"scrapy crawl (run {attempt + 1})"
            run.pins = count_complete_pins(db)
            scrapy_rows.append(record(run, sandbox.stats()))

        # 2. the seeds' design: 16 requests sessions in a thread pool + one writer thread
        sandbox.reset()
        pool_ids = [str(19_000_000 + i) for i in range(args.pins)]
        record(
            thread_pool_requests(sandbox.url, pool_ids, work / "pool.sqlite3", args.concurrency),
            sandbox.stats(),
        )

        # 3. a sequential requests loop
        sandbox.reset()
        seq_ids = [str(29_000_000 + i) for i in range(args.sequential_pins)]
        record(sequential_requests(sandbox.url, seq_ids, work / "seq.sqlite3"), sandbox.stats())

    columns = ("wall s", "pins/s", "of limit", "x ideal", "cpu ms/pin")
    header = f"{'client':32} {'pins':>6} " + " ".join(f"{c:>9}" for c in columns)
    print(
        f"pins benchmark: latency {args.latency_ms:.0f} ms, {args.concurrency} at once, "
        f"limit {limit:.1f} pins/s"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        share = f"{100 * row['share_of_limit']:.1f}%" if row["share_of_limit"] is not None else "-"
        ratio = f"{row['ratio_to_ideal']:.3f}" if row["ratio_to_ideal"] is not None else "-"
        cpu = f"{row['cpu_ms_per_pin']:.2f}" if row["cpu_ms_per_pin"] is not None else "-"
        print(
            f"{row['client']:32} {row['pins']:>6} {row['wall_s']:>9.2f} {row['pins_per_s']:>9.1f} "
            f"{share:>9} {ratio:>9} {cpu:>9}"
        )
    pool, seq = rows[-2], rows[-1]
    scrapy_row = sorted(scrapy_rows, key=lambda r: r["wall_s"])[len(scrapy_rows) // 2]  # the median
    speedups = {
        "scrapy_vs_sequential": round(scrapy_row["pins_per_s"] / seq["pins_per_s"], 2),  # type: ignore[operator]
        "scrapy_vs_thread_pool": round(scrapy_row["pins_per_s"] / pool["pins_per_s"], 3),  # type: ignore[operator]
    }
    print(
        f"scrapy (median run) vs sequential loop: {speedups['scrapy_vs_sequential']}x; vs thread pool: "
        f"{speedups['scrapy_vs_thread_pool']}x"
    )
    ok = all(r["pins"] == args.pins for r in scrapy_rows) and (
        not latency or scrapy_row["ratio_to_ideal"] <= args.target  # type: ignore[operator]
    )
    print(
        f"target: all {args.pins} pins stored within {args.target} x ideal -> {'MET' if ok else 'NOT MET'} "
        f"(median of {len(scrapy_rows)} runs: {scrapy_row['ratio_to_ideal']} x ideal; "
        f"{', '.join(str(r['ratio_to_ideal']) for r in scrapy_rows)}; peak memory "
        f"{scrapy_row['peak_rss_mb']} MB RSS of the crawl process)"
    )
    out = save_results("pins", {"args": vars(args), "rows": rows, "speedups": speedups, "target_met": ok})
    print(f"results: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    print(json.dumps({"scrapy_median": scrapy_row}, indent=None))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
