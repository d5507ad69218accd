"""What a `links` run did, task by task: the progress bar's counts, the PROGRESS_FILE's JSON
lines, and the run's metrics (tasks per minute, durations per type, queue depth and in-flight
over time, utilisation, failure rates) for the metrics JSON and the HTML report.

Utilisation is measured while work is queued (a task waits for a worker): the time-weighted
number of tasks in flight over the number of workers. It is integrated at every event, not
sampled, so a short run's figure is exact.
"""

from __future__ import annotations

import functools
import json
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any


@dataclass
class Running:
    key: str
    kind: str
    slot: int
    started: float


class TaskLog:
    def __init__(self, stats: Any, workers: int, progress_file: str | None = None) -> None:
        self.stats = stats
        self.workers = workers
        self.began = time.monotonic()
        self.queue = 0  # tasks waiting for a worker
        self.running: dict[str, Running] = {}
        self.durations: dict[str, list[float]] = defaultdict(list)
        self.ends: Counter[tuple[str, str]] = Counter()  # (kind, state)
        self.finished_at: list[float] = []  # seconds from the start, each task's end
        self.series: list[tuple[float, int, int]] = []  # (s, queue depth, in flight), every event
        self._last = self.began
        self._busy_area = 0.0  # in-flight x seconds, while work was queued
        self._queued_time = 0.0
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        if progress_file:
            path = Path(progress_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8", buffering=1)

    def _advance(self) -> None:
        now = time.monotonic()
        if self.queue > 0:
            self._busy_area += len(self.running) * (now - self._last)
            self._queued_time += now - self._last
        self._last = now
        point = (round(now - self.began, 3), self.queue, len(self.running))
        # a point at most every 0.2 s (a 100,000-task run keeps a few thousand)
        if self.series and point[0] - self.series[-1][0] < 0.2 and len(self.series) > 1:
            self.series[-1] = point
        elif not self.series or self.series[-1][1:] != point[1:]:
            self.series.append(point)

    def _emit(self, **line: Any) -> None:
        line["time"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        text = json.dumps(line, ensure_ascii=True) + "\n"
        with self._lock:  # the writer's thread emits too
            if self._file is not None:
                self._file.write(text)

    def queued(self, waiting: int) -> None:
        """`waiting` tasks wait for a worker now."""
        self._advance()
        self.queue = waiting
        self.stats.set_value("progress/queued", waiting)

    def pending(self, key: str, kind: str, position: int) -> None:
        self._emit(task=key, type=kind, state="pending", queue_position=position)

    def started(self, key: str, kind: str, slot: int) -> None:
        self._advance()
        self.queue = max(0, self.queue - 1)
        self.running[key] = Running(key, kind, slot, time.monotonic())
        self.stats.set_value("progress/queued", self.queue)
        self.stats.set_value("progress/in_progress", len(self.running))
        self._emit(task=key, type=kind, state="processing", worker_slot=slot, queue_depth=self.queue)

    def ended(self, key: str, state: str, error: str | None = None) -> Callable[[bool], None] | None:
        """The task ended in this run: counted now; its progress line is written by what this
        returns, called once the end is saved (a kill before then leaves the task to do again)."""
        if key not in self.running:
            return None
        self._advance()  # the time since the last event, with this task still in flight
        running = self.running.pop(key)
        took = time.monotonic() - running.started
        self.durations[running.kind].append(took)
        self.ends[(running.kind, state)] += 1
        self.finished_at.append(time.monotonic() - self.began)
        self.stats.set_value("progress/in_progress", len(self.running))
        self.stats.inc_value("progress/done" if state == "completed" else "progress/failed")
        self.stats.inc_value(f"links/{running.kind}/{state}")
        self.stats.inc_value(f"progress/type/{running.kind}")
        line: dict[str, Any] = {
            "task": key,
            "type": running.kind,
            "state": state,
            "worker_slot": running.slot,
            "queue_depth": self.queue,
            "seconds": round(took, 3),
        }
        if error:
            line["error"] = error
        return functools.partial(self._saved, line)

    def _saved(self, line: dict[str, Any], saved: bool) -> None:
        """On the writer's thread: the task's end is in the database (or its lease was lost to
        another run, which then does it: not this run's end to report)."""
        if saved:
            self._emit(**line)

    def cancel_running(self) -> None:
        """A Ctrl+C: the tasks still in flight end as cancelled for this run."""
        for running in self.running.values():
            self._emit(task=running.key, type=running.kind, state="cancelled", worker_slot=running.slot)

    def metrics(self) -> dict[str, Any]:
        self._advance()
        elapsed = time.monotonic() - self.began
        kinds = sorted({kind for kind, _ in self.ends} | set(self.durations))
        per_type = {}
        for kind in kinds:
            times = sorted(self.durations.get(kind, []))
            done, failed = self.ends[(kind, "completed")], self.ends[(kind, "failed")]
            per_type[kind] = {
                "completed": done,
                "failed": failed,
                "failure_rate": round(failed / (done + failed), 4) if done + failed else None,
                "mean_s": round(sum(times) / len(times), 3) if times else None,
                "p95_s": round(times[max(0, math.ceil(0.95 * len(times)) - 1)], 3) if times else None,
            }
        ended = len(self.finished_at)
        return {
            "elapsed_s": round(elapsed, 3),
            "workers": self.workers,
            "tasks_ended": ended,
            "tasks_per_minute": round(60 * ended / elapsed, 2) if elapsed > 0 else None,
            "utilisation_while_queued": round(self._busy_area / (self.workers * self._queued_time), 4)
            if self._queued_time > 0
            else None,
            "seconds_with_work_queued": round(self._queued_time, 3),
            "per_type": per_type,
            "queue_and_in_flight": [list(point) for point in self.series],
            "finished_at_s": [round(t, 3) for t in self.finished_at],
        }

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
