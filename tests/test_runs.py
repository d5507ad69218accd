"""Run folders: numbered per day, never shared by two runs that start together."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

from crawler.runs import new_run_dir


def test_runs_are_numbered_per_day(tmp_path: Path) -> None:
    day = date(2026, 11, 23)
    assert new_run_dir(tmp_path, day) == tmp_path / "2026-11-23" / "run-1"
    assert new_run_dir(tmp_path, day) == tmp_path / "2026-11-23" / "run-2"
    assert new_run_dir(tmp_path, date(2026, 11, 24)) == tmp_path / "2026-11-24" / "run-1"
    (tmp_path / "2026-11-23" / "notes.txt").write_text("a user's file")
    assert new_run_dir(tmp_path, day).name == "run-3"


def test_runs_starting_together_get_different_folders(tmp_path: Path) -> None:
    got: list[Path] = []
    barrier = threading.Barrier(6)

    def start() -> None:
        barrier.wait()
        got.append(new_run_dir(tmp_path, date(2026, 1, 1)))

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in got) == [f"run-{n}" for n in range(1, 7)]
