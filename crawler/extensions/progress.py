"""Progress while a crawl runs, and its metrics as JSON when it ends.

On a terminal: one ASCII line rewritten in place (done / total, rate, ETA, errors). Otherwise (a
log file, Scrapyd, CI): the same as a log line every PROGRESS_LOG_INTERVAL seconds. At the end,
the run's metrics go to METRICS_DIR/<spider>-<UTC time>.json.

What counts as done is the spider's to say, through stats: `progress/total` (what it has queued)
and `progress/done` and `progress/failed` (what it finished either way).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from crawler.storage import DiskFull, write_whole

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("PROGRESS_ENABLED", True):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.tty = settings.getbool("PROGRESS_TTY", sys.stderr.isatty())
        self.interval = 0.5 if self.tty else settings.getfloat("PROGRESS_LOG_INTERVAL", 10.0)
        self.metrics_dir = settings.get("METRICS_DIR")
        self.started = time.monotonic()
        self._window: list[tuple[float, int]] = []
        self._task: Any = None
        crawler.signals.connect(self._opened, signal=signals.spider_opened)
        crawler.signals.connect(self._closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Progress:
        return cls(crawler)

    def _opened(self, spider: Any) -> None:
        import asyncio

        self.started = time.monotonic()
        self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        import asyncio

        while True:
            await asyncio.sleep(self.interval)
            self._report()

    def line(self) -> str:
        done = int(self.stats.get_value("progress/done", 0))
        failed = int(self.stats.get_value("progress/failed", 0))
        total = self.stats.get_value("progress/total")
        now = time.monotonic()
        self._window.append((now, done + failed))
        self._window = [(t, n) for t, n in self._window if now - t <= 30] or [(now, done + failed)]
        first_t, first_n = self._window[0]
        rate = (done + failed - first_n) / (now - first_t) if now > first_t else 0.0
        parts = [f"{done + failed}" + (f"/{total}" if total else "")]
        if total:
            share = (done + failed) / total if total else 0
            filled = int(20 * min(share, 1.0))
            parts.insert(0, f"[{'#' * filled}{'.' * (20 - filled)}] {100 * share:5.1f}%")
        running = self.stats.get_value("progress/in_progress")
        if running is not None:
            parts.append(
                f"failed {failed}  running {running}  queued {self.stats.get_value('progress/queued', 0)}"
            )
        by_type = sorted(
            (k.removeprefix("progress/type/"), v)
            for k, v in self.stats.get_stats().items()
            if k.startswith("progress/type/")
        )
        if by_type:
            parts.append(" ".join(f"{kind} {n}" for kind, n in by_type))
        parts.append(f"{rate:.1f}/s")
        if total and rate > 0:
            parts.append(f"ETA {_duration(max(total - done - failed, 0) / rate)}")
        parts.append(f"errors {failed + int(self.stats.get_value('log_count/ERROR', 0))}")
        parts.append(f"elapsed {_duration(now - self.started)}")
        return "  ".join(parts)

    def _report(self) -> None:
        text = self.line()
        if self.tty:
            width = max(60, shutil.get_terminal_size().columns - 1)
            sys.stderr.write("\r" + text.ljust(width)[:width])
            sys.stderr.flush()
        else:
            logger.info("Progress: %s", text)

    def _closed(self, spider: Any, reason: str) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.tty:
            width = max(60, shutil.get_terminal_size().columns - 1)
            sys.stderr.write("\r" + self.line().ljust(width)[:width] + "\n")
        if self.metrics_dir:
            self._write_metrics(spider.name, reason)

    def _write_metrics(self, name: str, reason: str) -> None:
        elapsed = time.monotonic() - self.started
        stats = self.stats.get_stats()
        done = int(stats.get("progress/done", 0))
        metrics = {
            "spider": name,
            "finish_reason": reason,
            "started_at": stats.get("start_time"),
            "elapsed_s": round(elapsed, 3),
            "total": stats.get("progress/total"),
            "done": done,
            "failed": int(stats.get("progress/failed", 0)),
            "items_per_s": round(done / elapsed, 2) if elapsed else None,
            "requests": stats.get("downloader/request_count", 0),
            "responses_by_status": {
                k.rsplit("/", 1)[1]: v
                for k, v in stats.items()
                if k.startswith("downloader/response_status_count/")
            },
            "retries": stats.get("retry/count", 0),
            "errors_logged": stats.get("log_count/ERROR", 0),
            "peak_memory_mb": round(stats.get("memusage/max", 0) / 2**20, 1) or None,
            "stats": {k: v for k, v in stats.items() if isinstance(v, int | float) and "/" in k},
        }
        extra = getattr(self.crawler.spider, "run_metrics", None)
        if extra is not None and (figures := extra()) is not None:
            metrics["tasks"] = figures  # a task-queue spider's own figures (crawler/tasklog.py)
        folder = Path(self.metrics_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = folder / f"{name}-{stamp}.json"
        try:
            write_whole(path, json.dumps(metrics, indent=2, default=str).encode())
        except DiskFull as exc:
            logger.warning("Run metrics not written: %s", exc)
            return
        logger.info("Run metrics: %s", path)
