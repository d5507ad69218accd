"""Shared pieces of the benchmarks: running a crawl as a user would, and the baseline clients."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


SCRAPY = str(Path(sys.executable).with_name("scrapy"))


@dataclass
class Run:
    name: str
    pins: int
    wall_s: float
    cpu_s: float | None = None
    peak_rss_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.pins / self.wall_s


def run_crawl(
    args: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 3600,
    sample_every: float = 0.5,
    sample: Callable[[Any], None] | None = None,
) -> tuple[Run, str]:
    """`scrapy crawl ...` in a child process, as a user runs it (see run_command)."""
    run, out = run_command(
        [SCRAPY, "crawl", *args], env=env, timeout=timeout, sample_every=sample_every, sample=sample
    )
    run.name = "scrapy crawl"
    return run, out


def run_command(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 3600,
    sample_every: float = 0.5,
    sample: Callable[[Any], None] | None = None,
) -> tuple[Run, str]:
    """A command in a child process, timed from launch to exit (interpreter start-up included).

    Returns wall time, CPU seconds (the command and every process it started, from the kernel's
    accounting of reaped children) and the peak resident memory of the command's own process
    (sampled every `sample_every` s), with its output. `sample`, when given, is also called
    with the running psutil.Process at every sample.
    """
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = psutil.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    peak = 0
    while proc.poll() is None:
        # the crawl process only: reading the browser's /proc/*/smaps costs enough CPU to slow
        # the crawl being measured
        with contextlib.suppress(psutil.Error):
            peak = max(peak, proc.memory_info().rss)
        if sample is not None:
            sample(proc)
        if time.perf_counter() - started > timeout:
            proc.kill()
        # wait, not sleep: the wall time must end when the crawl does, not at the next sample
        with contextlib.suppress(psutil.TimeoutExpired):
            proc.wait(timeout=sample_every)
    wall = time.perf_counter() - started
    reader.join(5)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{''.join(out)[-3000:]}")
    return Run(Path(argv[0]).name, 0, wall, cpu, peak / 2**20), "".join(out)


def pins_crawl_args(ids_file: Path, db: Path, sandbox_url: str, concurrency: int) -> list[str]:
    """`scrapy crawl pins` on an ids file, as the issues state it; outputs beside the database."""
    return [
        "pins",
        "-a", f"ids_file={ids_file}",
        "-s", f"CONCURRENT_REQUESTS={concurrency}",
        "-s", f"SANDBOX_URL={sandbox_url}",
        "-s", f"DATABASE_URL=sqlite:///{db}",
        "-s", f"FILES_STORE={db.parent / 'images'}",
        "-s", f"METRICS_DIR={db.parent / 'metrics'}",
        "-s", "LOG_LEVEL=WARNING",
    ]  # fmt: skip


def links_crawl_args(batch: Path, db: Path, sandbox_url: str, workers: int, *more: str) -> list[str]:
    """`scrapy crawl links` on a batch, outputs beside the database; `more`: further -a / -s."""
    return [
        "links",
        "-a", f"batch={batch}",
        "-s", f"CONCURRENT_REQUESTS={workers}",
        "-s", f"SANDBOX_URL={sandbox_url}",
        "-s", f"DATABASE_URL=sqlite:///{db}",
        "-s", f"METRICS_DIR={db.parent / 'metrics'}",
        "-s", "LOG_LEVEL=WARNING",
        *more,
    ]  # fmt: skip


def links_task_states(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT state, count(*) FROM tasks GROUP BY state").fetchall())


def count_complete_pins(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT count(*) FROM pins WHERE image_url IS NOT NULL AND title IS NOT NULL"
            " AND board_name IS NOT NULL AND saves IS NOT NULL"
        ).fetchone()[0]


def save_results(name: str, results: dict[str, Any]) -> Path:
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return out
