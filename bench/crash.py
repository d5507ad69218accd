"""Benchmark: stop a 5,000-pin crawl at a random moment, run the same command again, count.

    python bench/crash.py [--pins 5000] [--latency-ms 50] [--rounds 3] [--seed N]

Each round crawls --pins ids with a JOBDIR, images on, against the sandbox, and stops it at a
random moment between 10% and 90% of its expected run:
- `kill -9` of the crawl process (only it, as a user's `kill -9 PID`); or
- one Ctrl+C (SIGINT to the process group, as a terminal sends it).
Then the same command runs to the end. Checked: every pin stored exactly once with its details
and a whole image file (JPEG start and end markers), 0 lost; for Ctrl+C, how fast the crawl
stopped and that the JOBDIR was resumed; for kill -9, that no browser or driver process of the
killed crawl was left running. Results also go to bench/results/crash.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, SCRAPY, save_results
from sandbox.process import SandboxProcess

API = ("www.pinterest.com", "/resource/PinResource/get/")


def crawl_argv(ids: Path, work: Path, sandbox_url: str) -> list[str]:
    return [
        SCRAPY, "crawl", "pins",
        "-a", f"ids_file={ids}", "-a", "images=1",
        "-s", f"JOBDIR={work / 'job'}",
        "-s", f"SANDBOX_URL={sandbox_url}",
        "-s", f"DATABASE_URL=sqlite:///{work / 'pins.sqlite3'}",
        "-s", f"FILES_STORE={work / 'images'}",
        "-s", f"METRICS_DIR={work / 'metrics'}",
        "-s", "LOG_LEVEL=INFO",
    ]  # fmt: skip


def session_processes(sid: int) -> list[str]:
    import psutil

    left = []
    for proc in psutil.process_iter(["pid", "name"]):
        try:
            if os.getsid(proc.pid) == sid:
                left.append(f"{proc.info['name']}({proc.pid})")
        except (ProcessLookupError, PermissionError):
            continue
    return left


def check(work: Path, pins: int) -> dict[str, int]:
    with sqlite3.connect(work / "pins.sqlite3") as conn:
        rows, distinct, detailed = conn.execute(
            "SELECT count(*), count(DISTINCT id), sum(details_fetched_at IS NOT NULL) FROM pins"
        ).fetchone()
        paths = [p for (p,) in conn.execute("SELECT image_path FROM pins WHERE image_path IS NOT NULL")]
    whole = 0
    for path in paths:
        file = Path(path) if Path(path).is_absolute() else ROOT / path  # FILES_STORE/<keyword>/<id>.jpg
        if file.is_file():
            data = file.read_bytes()
            whole += data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] == b"\xff\xd9"
    files = sum(1 for f in (work / "images").rglob("*") if f.is_file())
    return {
        "rows": rows,
        "distinct": distinct,
        "with_details": detailed or 0,
        "with_whole_image": whole,
        "image_files": files,
        "lost": pins - min(distinct, detailed or 0, whole),
    }


def one_round(sandbox: SandboxProcess, how: str, pins: int, expected_s: float, rng: random.Random) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"bench-crash-{how}-"))
    ids = work / "ids.txt"
    first = rng.randrange(10_000_000, 90_000_000)
    ids.write_text("".join(f"{first + i}\n" for i in range(pins)))
    argv = crawl_argv(ids, work, sandbox.url)
    sandbox.reset()
    log1 = (work / "run1.log").open("wb")
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=log1, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while sandbox.count(*API, "200") < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    moment = rng.uniform(0.1, 0.9) * expected_s
    time.sleep(moment)
    stopped_at = time.monotonic()
    if how == "kill -9":
        os.kill(proc.pid, signal.SIGKILL)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    code = proc.wait(timeout=120)
    stop_s = time.monotonic() - stopped_at
    time.sleep(2)  # the driver notices its parent is gone
    left = session_processes(proc.pid)
    for name in left:  # leave nothing behind for the next round, whatever the count
        pid = int(name.rsplit("(", 1)[1].rstrip(")"))
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    before = check(work, pins)
    fetched_first = sandbox.stats()["resources"]["pin"]["unique"]
    sandbox.reset()
    run2 = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    (work / "run2.log").write_text(run2.stdout + run2.stderr)
    after = check(work, pins)
    stats = sandbox.stats()["resources"]["pin"]
    out = run2.stdout + run2.stderr
    return {
        "how": how,
        "stopped_after_s": round(moment, 2),
        "first_run_exit": code,
        "stop_took_s": round(stop_s, 2),
        "stored_before": before["distinct"],
        "fetched_in_first_run": fetched_first,
        "processes_left": left,
        "second_run_exit": run2.returncode,
        "resumed_jobdir": "Resuming crawl" in out,
        "unclean_jobdir_noticed": "was not closed cleanly" in out,
        "fetched_in_second_run": stats["unique"],
        "fetched_by_both_runs": fetched_first + stats["unique"] - pins,
        **after,
        "work": str(work),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pins", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind of stop")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)
    # two requests per pin (details, image) at C at once: N * 2 * L / C seconds, plus start-up
    expected = args.pins * 2 * (args.latency_ms / 1000) / args.concurrency + 2
    rounds = []
    with SandboxProcess(latency_ms=args.latency_ms) as sandbox:
        for how in ("kill -9", "Ctrl+C"):
            for n in range(args.rounds):
                result = one_round(sandbox, how, args.pins, expected, rng)
                rounds.append(result)
                print(
                    f"{how:8} round {n + 1}: stopped after {result['stopped_after_s']:5.2f} s "
                    f"(exit {result['first_run_exit']}, took {result['stop_took_s']:.2f} s) with "
                    f"{result['stored_before']:>5} stored; again: {result['distinct']} pins, "
                    f"{result['rows'] - result['distinct']} duplicated, {result['lost']} lost, "
                    f"{result['image_files']} image files; pins fetched by both runs: "
                    f"{result['fetched_by_both_runs']}; processes left: {len(result['processes_left'])}",
                    flush=True,
                )
    ok = all(
        r["second_run_exit"] == 0
        and r["rows"] == r["distinct"] == r["with_details"] == r["with_whole_image"] == args.pins
        and r["image_files"] == args.pins
        and r["lost"] == 0
        and not r["processes_left"]
        for r in rounds
    ) and all(r["first_run_exit"] == 0 and r["resumed_jobdir"] for r in rounds if r["how"] == "Ctrl+C")
    ctrl_c = [r["stop_took_s"] for r in rounds if r["how"] == "Ctrl+C"]
    print(
        f"target: after kill -9 or one Ctrl+C, the same command ends with {args.pins} pins, each "
        f"exactly once, 0 lost -> {'MET' if ok else 'NOT MET'} (seed {seed}; Ctrl+C stopped the "
        f"crawl in {', '.join(f'{s:.2f}' for s in ctrl_c)} s)"
    )
    save_results("crash", {"args": vars(args), "seed": seed, "rounds": rounds, "ok": ok})
    print(json.dumps({"ok": ok, "seed": seed}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
