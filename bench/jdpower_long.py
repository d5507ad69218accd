"""Benchmark: a long `scrapy crawl jdpower` against a failing, session-expiring portal; memory.

    python bench/jdpower_long.py [--vehicles 500] [--error-rate 0.05] [--session-ttl-s 20]
                                 [--pdf-delay-ms 300] [--contexts 5]

Samples, every second, the memory of the crawl process plus every process it started
(Playwright's driver, Chromium and its renderers) as PSS summed: each shared page is split between
the processes that map it (RSS summed, which counts them once per process, is printed beside it).
Printed: the share of vehicles saved, re-logins, the peak memory, and the peak of the first and of
the last quarter of the run. The issue's targets: at least 99.5% saved, under 600 MB with 5
contexts, last quarter's peak within 20% of the first's.
Results go to bench/results/jdpower_long.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import run_crawl, save_results
from sandbox.process import SandboxProcess

USER, PASSWORD = "bench-user", "bench-pass"


def tree_memory(root: object) -> tuple[int, int, dict[str, int]]:
    """(RSS summed, PSS summed, PSS by kind of process) over `root` and every process under it.

    RSS counts the pages Chromium's processes share once per process, so its sum overstates;
    PSS splits each shared page between the processes that map it, so its sum is what the tree
    really holds.
    """
    import psutil

    assert isinstance(root, psutil.Process)
    rss = pss = 0
    kinds: dict[str, int] = {}
    with contextlib.suppress(psutil.Error):
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                info = proc.memory_full_info()
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
                kind = _kind(proc.cmdline()) if proc.pid != root.pid else "crawl (python)"
                kinds[kind] = kinds.get(kind, 0) + getattr(info, "pss", info.rss)
    return rss, pss, kinds


def _kind(argv: list[str]) -> str:
    line = " ".join(argv)
    if "run-driver" in line:
        return "playwright driver (node)"
    if "chrom" not in line:
        return "other"
    kind = next((a.split("=", 1)[1] for a in argv if a.startswith("--type=")), "browser")
    return f"chromium {kind}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vehicles", type=int, default=500)
    parser.add_argument("--error-rate", type=float, default=0.05)
    parser.add_argument("--session-ttl-s", type=float, default=20)
    parser.add_argument("--pdf-delay-ms", type=float, default=300)
    parser.add_argument("--contexts", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-jdpower-long-"))
    samples: list[tuple[float, int, int, dict[str, int]]] = []  # (seconds, RSS, PSS, PSS by kind)
    with SandboxProcess(
        vehicles=args.vehicles,
        error_rate=args.error_rate,
        session_ttl_s=args.session_ttl_s,
        pdf_delay_ms=args.pdf_delay_ms,
        jd_user=USER,
        jd_pass=PASSWORD,
    ) as sandbox:
        started = time.monotonic()

        def sample(proc: object) -> None:
            samples.append((time.monotonic() - started, *tree_memory(proc)))

        run, _ = run_crawl(
            [
                "jdpower",
                "-s", f"CONCURRENT_CONTEXTS={args.contexts}",
                "-s", f"JDPOWER_BASE_URL={sandbox.url}",
                "-s", f"DATABASE_URL=sqlite:///{work / 'jd.sqlite3'}",
                "-s", f"JDPOWER_OUTPUT_DIR={work / 'downloads'}",
                "-s", f"METRICS_DIR={work / 'metrics'}",
                "-s", "LOG_LEVEL=INFO",
            ],
            env={"JD_USER": USER, "JD_PASS": PASSWORD},
            sample_every=1.0,
            sample=sample,
        )  # fmt: skip
        wall = run.wall_s
        stats = sandbox.stats()
    with sqlite3.connect(work / "jd.sqlite3") as conn:
        done = conn.execute("SELECT count(*) FROM vehicles WHERE status = 'done'").fetchone()[0]
    (metrics_file,) = (work / "downloads").rglob("metrics.json")
    metrics = json.loads(metrics_file.read_text())
    quarter = wall / 4
    first = max((pss for t, _, pss, _ in samples if t <= quarter), default=0)
    last = max((pss for t, _, pss, _ in samples if t >= 3 * quarter), default=0)
    peak = max((pss for _, _, pss, _ in samples), default=0)
    peak_rss = max((rss for _, rss, _, _ in samples), default=0)
    share = done / args.vehicles
    growth = (last - first) / first if first else 0.0
    ok = share >= 0.995 and peak < 600 * 2**20 and growth <= 0.20
    mb = 2**20
    served_500 = sum(c.get("500", 0) for c in stats["requests"].values())
    print(
        f"{args.vehicles} vehicles, error rate {args.error_rate}, sessions of {args.session_ttl_s:.0f} s, "
        f"{args.contexts} contexts: {done} saved ({100 * share:.1f}%) in {wall:.1f} s"
    )
    print(
        f"re-logins {metrics['relogins']}, browser restarts {metrics['browser_restarts']}, "
        f"failed {metrics['failed']}, 500s served {served_500}"
    )
    print(
        f"memory (crawl + driver + browser, PSS summed): peak {peak / mb:.0f} MB "
        f"(RSS summed {peak_rss / mb:.0f} MB); first quarter {first / mb:.0f} MB, "
        f"last quarter {last / mb:.0f} MB ({100 * growth:+.1f}%)"
    )
    at_peak = max(samples, key=lambda sample: sample[2])[3] if samples else {}
    print(
        "at the peak: "
        + ", ".join(
            f"{kind} {size / mb:.0f} MB" for kind, size in sorted(at_peak.items(), key=lambda kv: -kv[1])
        )
    )
    print(
        "target: >= 99.5% saved, < 600 MB, last quarter within 20% of the first -> "
        f"{'MET' if ok else 'NOT MET'}"
    )
    save_results(
        "jdpower_long",
        {
            "args": vars(args),
            "saved": done,
            "wall_s": round(wall, 1),
            "peak_pss_mb": round(peak / mb),
            "peak_rss_mb": round(peak_rss / mb),
            "first_quarter_mb": round(first / mb),
            "last_quarter_mb": round(last / mb),
            "metrics": metrics,
            "ok": ok,
            "work": str(work),
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
