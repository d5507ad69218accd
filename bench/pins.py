"""Benchmark: `scrapy crawl pins -a images=0` against the seeds' designs, all on one sandbox, in one run.

    python bench/pins.py [--pins 2000] [--latency-ms 200] [--concurrency 16] [--sequential-pins 100]
    python bench/pins.py --latency-ms 0 [--pins 10000]    # CPU cost: event loops and the thread pool

Every client runs as a command, timed from launch to exit: scrapy with its browser warm-up, the
baselines (bench/baselines.py) with their plain-HTTP session. The limit for C requests at once to
a server answering in L seconds is C / L pins/s, so the ideal time for N pins is N * L / C.

"steady" rates leave out start-up and exit by the same rule for every design: the sandbox times
its own first and last PinResource answers, and the rate is the answers between them over that
span. The rest of the wall time is the command's start-up and exit.

Printed: each run's wall time, pins/s (whole command and steady), share of the limit, and CPU ms
per pin (the command and its children, browser included). Runs are taken in turn, --repeat
times; medians are judged (this machine drifts by 10-20% from run to run):
- with latency: scrapy keeps at least --min-share (0.98) of the limit, steady;
- at 0 ms: scrapy on uvloop (the default loop) makes at least --min-speedup (1.4) x the thread
  pool's steady pins/s; scrapy on asyncio's plain loop is measured beside it.
Results go to bench/results/pins.json (pins_cpu.json at 0 ms).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Run, count_complete_pins, pins_crawl_args, run_command, run_crawl, save_results
from sandbox.process import SandboxProcess

LOOPS = {"uvloop": "uvloop.Loop", "asyncio": "asyncio.SelectorEventLoop"}
THREAD_POOL = "thread pool (16) + writer"


API = "www.pinterest.com /resource/PinResource/get/"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pins", type=int, default=None, help="default: 2000, 10000 at 0 ms")
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential-pins", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each design, taken in turn")
    parser.add_argument("--loops", default=None, help="event loops for scrapy (uvloop, asyncio)")
    parser.add_argument("--min-share", type=float, default=0.98, help="with latency: of the limit")
    parser.add_argument("--min-speedup", type=float, default=1.4, help="at 0 ms: x the thread pool")
    parser.add_argument("--http-client", default="asyncio", help="HTTP_CLIENT for scrapy: asyncio or twisted")
    args = parser.parse_args()

    latency = args.latency_ms / 1000
    pins = args.pins or (2000 if latency else 10000)
    loops = (args.loops or ("uvloop,asyncio" if not latency else "uvloop")).split(",")
    limit = args.concurrency / latency if latency else float("inf")
    work = Path(tempfile.mkdtemp(prefix="bench-pins-"))
    first_id = iter(range(9_000_000, 10**12, 1_000_000))

    def ids_file(count: int, name: str) -> Path:
        path = work / f"{name}-ids.txt"
        start = next(first_id)
        path.write_text("".join(f"{start + i}\n" for i in range(count)))
        return path

    def scrapy(loop: str, count: int, name: str) -> Run:
        db = work / f"{name}.sqlite3"
        crawl = pins_crawl_args(ids_file(count, name), db, sandbox.url, args.concurrency)
        crawl += ["-a", "images=0", "-s", f"HTTP_CLIENT={args.http_client}"]
        crawl += ["-s", f"ASYNCIO_EVENT_LOOP={LOOPS[loop]}"]
        run, _ = run_crawl(crawl)
        run.pins = count_complete_pins(db)
        return run

    def baseline(design: str, count: int, name: str) -> Run:
        db = work / f"{name}.sqlite3"
        argv = [sys.executable, str(Path(__file__).with_name("baselines.py")), design]
        argv += ["--sandbox-url", sandbox.url, "--ids-file", str(ids_file(count, name)), "--db", str(db)]
        argv += ["--workers", str(args.concurrency)]
        run, _ = run_command(argv)
        run.pins = count_complete_pins(db)
        return run

    designs: dict[str, Callable[[int, str], Run]] = {
        f"scrapy crawl, {loop} loop": partial(scrapy, loop) for loop in loops
    }
    designs[THREAD_POOL] = partial(baseline, "thread-pool")
    rows: list[dict[str, Any]] = []

    def record(name: str, attempt: int | None, run: Run, served: dict[str, Any]) -> None:
        answers = sum(served["requests"].get(API, {}).values())
        span = served["span_s"].get(API, 0.0)
        steady = (answers - 1) / span if span > 0 else None
        ideal = run.pins * latency / args.concurrency
        rows.append(
            {
                "client": name,
                "run": attempt,
                "pins": run.pins,
                "wall_s": round(run.wall_s, 2),
                "pins_per_s": round(run.rate, 1),
                "steady_pins_per_s": round(steady, 1) if steady else None,
                "startup_and_exit_s": round(run.wall_s - answers / steady, 2) if steady else None,
                "share_of_limit": round(steady / limit, 3) if latency and steady else None,
                "ratio_to_ideal": round(run.wall_s / ideal, 3) if ideal else None,
                "cpu_ms_per_pin": round(1000 * run.cpu_s / run.pins, 2) if run.cpu_s and run.pins else None,
                "peak_rss_mb": round(run.peak_rss_mb, 1) if run.peak_rss_mb else None,
            }
        )

    with SandboxProcess(latency_ms=args.latency_ms) as sandbox:
        for attempt in range(1, args.repeat + 1):  # in turn: a drift of the machine hits each alike
            for index, (name, start) in enumerate(designs.items()):
                sandbox.reset()
                run = start(pins, f"run-{attempt}-{index}")
                record(name, attempt, run, sandbox.stats())
        sandbox.reset()
        sequential = baseline("sequential", args.sequential_pins, "sequential")
        record("sequential requests", None, sequential, sandbox.stats())

    print(
        f"pins benchmark: latency {args.latency_ms:.0f} ms, {args.concurrency} at once, {pins} pins, "
        f"limit {limit:.1f} pins/s"
    )
    header = (
        f"{'client':30} {'run':>3} {'pins':>6} {'wall s':>7} {'pins/s':>7} {'steady':>7} "
        f"{'su+exit':>7} {'of limit':>8} {'cpu ms/pin':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        of_limit = f"{100 * r['share_of_limit']:.1f}%" if r["share_of_limit"] else "-"
        print(
            f"{r['client']:30} {r['run'] or '-':>3} {r['pins']:>6} {r['wall_s']:>7.2f} "
            f"{r['pins_per_s']:>7.1f} {r['steady_pins_per_s'] or 0:>7.1f} "
            f"{r['startup_and_exit_s'] or 0:>7.2f} {of_limit:>8} {r['cpu_ms_per_pin'] or 0:>10.2f}"
        )

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["client"] == name)

    complete = all(r["pins"] == pins for r in rows if r["run"])
    main_loop = f"scrapy crawl, {loops[0]} loop"
    summary: dict[str, Any] = {name: median(name, "steady_pins_per_s") for name in designs}
    if latency:
        share = median(main_loop, "share_of_limit")
        ok = complete and share >= args.min_share
        shares = ", ".join(str(r["share_of_limit"]) for r in rows if r["client"] == main_loop)
        print(
            f"target: all {pins} pins stored, at least {args.min_share} of the limit (steady) -> "
            f"{'MET' if ok else 'NOT MET'} ({main_loop}: median {share}; {shares}; whole command "
            f"{median(main_loop, 'ratio_to_ideal')} x the ideal time)"
        )
        summary["share_of_limit"] = share
    else:
        pool = summary[THREAD_POOL]
        speedup = summary[main_loop] / pool
        ok = complete and speedup >= args.min_speedup
        for name in designs:
            if name != THREAD_POOL:
                whole = median(name, "pins_per_s") / median(THREAD_POOL, "pins_per_s")
                print(
                    f"{name}: {summary[name]:.0f} pins/s steady (median) = {summary[name] / pool:.2f} x "
                    f"the thread pool's {pool:.0f}; whole command {whole:.2f} x"
                )
        if len(loops) > 1:
            other = summary[f"scrapy crawl, {loops[1]} loop"]
            print(f"{loops[0]} against {loops[1]}: {summary[main_loop] / other:.3f} x steady pins/s")
        print(
            f"target: at 0 ms, {main_loop} at least {args.min_speedup} x the thread pool's steady "
            f"pins/s -> {'MET' if ok else 'NOT MET'} ({speedup:.2f} x)"
        )
        summary["speedup_vs_thread_pool"] = round(speedup, 3)
    out = save_results(
        "pins" if latency else "pins_cpu",
        {"args": vars(args), "rows": rows, "summary": summary, "target_met": ok},
    )
    print(f"results: {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
