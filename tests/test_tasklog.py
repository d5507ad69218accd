"""The run's figures: utilisation while work is queued, durations per type, failure rates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.tasklog import TaskLog


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Stats(dict):
    def set_value(self, key: str, value: object) -> None:
        self[key] = value

    def inc_value(self, key: str, n: int = 1) -> None:
        self[key] = self.get(key, 0) + n


def test_utilisation_durations_and_failures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clock = Clock()
    monkeypatch.setattr("crawler.tasklog.time.monotonic", clock)
    log = TaskLog(Stats(), workers=2, progress_file=str(tmp_path / "p.jsonl"))
    log.queued(4)
    log.started("a", "youtube", 0)
    log.started("b", "article", 1)
    clock.now += 1.0  # two of two workers busy, work queued
    saved_a = log.ended("a", "completed")
    clock.now += 1.0  # one of two busy, work still queued
    log.started("c", "youtube", 0)
    saved_b = log.ended("b", "failed", "HTTP 404")
    log.started("d", "article", 1)  # the queue is empty from here: not counted
    clock.now += 3.0
    log.ended("c", "completed")  # never saved (a kill): no line says it ended
    saved_d = log.ended("d", "completed")
    for saved, ok in ((saved_a, True), (saved_b, True), (saved_d, False)):  # d: its lease lost
        assert saved is not None
        saved(ok)
    metrics = log.metrics()
    log.close()
    assert metrics["utilisation_while_queued"] == pytest.approx(0.75)  # (2 x 1 s + 1 x 1 s) / (2 x 2 s)
    assert metrics["per_type"]["youtube"] == {
        "completed": 2, "failed": 0, "failure_rate": 0.0, "mean_s": 2.0, "p95_s": 3.0,
    }  # fmt: skip
    assert metrics["per_type"]["article"]["failure_rate"] == 0.5
    assert metrics["tasks_per_minute"] == pytest.approx(48.0)  # 4 tasks in 5 s
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [(e["task"], e["state"]) for e in lines] == [
        ("a", "processing"), ("b", "processing"), ("c", "processing"), ("d", "processing"),
        ("a", "completed"), ("b", "failed"),
    ]  # fmt: skip
    assert lines[5]["error"] == "HTTP 404" and lines[5]["worker_slot"] == 1


def test_a_ctrl_c_says_the_tasks_in_flight_are_cancelled(tmp_path: Path) -> None:
    log = TaskLog(Stats(), workers=2, progress_file=str(tmp_path / "p.jsonl"))
    log.started("a", "reddit", 0)
    log.started("b", "youtube", 1)
    saved = log.ended("b", "completed")
    assert saved is not None
    saved(True)
    log.cancel_running()
    log.close()
    lines = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert [(e["task"], e["state"]) for e in lines][-2:] == [("b", "completed"), ("a", "cancelled")]
