"""A JOBDIR that survives `kill -9`.

Scrapy's JOBDIR assumes a graceful stop. After `kill -9` (or a second Ctrl+C, or a power cut)
`requests.seen` holds whatever its buffered writes had flushed, and `requests.queue` is either
ignored (no fresh `active.json`) or, worse, read with the `active.json` of an earlier clean stop
while its files were changed since. Requests marked seen but never fetched would then be
filtered in every later run with that JOBDIR: lost for good.

This dupefilter marks the JOBDIR while a crawl runs (`crawler.running`) and clears the mark on
a graceful close, which Scrapy calls right after it saved the queue's state. A crawl that finds
the mark knows the previous one did not stop cleanly, and drops the JOBDIR's seen requests and
queue: the database, which only holds committed results, says what is left to do.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from scrapy.dupefilters import RFPDupeFilter

logger = logging.getLogger(__name__)

MARKER = "crawler.running"


class CrashSafeDupeFilter(RFPDupeFilter):
    def __init__(self, path: str | None = None, debug: bool = False, **kwargs: Any) -> None:
        self._marker: Path | None = None
        if path:
            jobdir = Path(path)
            marker = jobdir / MARKER
            if marker.exists():
                _forget_unclean_run(jobdir)
            jobdir.mkdir(parents=True, exist_ok=True)
            marker.write_text(f"{os.getpid()}\n")
            self._marker = marker
        super().__init__(path, debug, **kwargs)

    def close(self, reason: str) -> None:
        super().close(reason)
        if self._marker is not None:
            self._marker.unlink(missing_ok=True)


def _forget_unclean_run(jobdir: Path) -> None:
    logger.warning(
        "JOBDIR %s was not closed cleanly (a crash, kill -9 or a second Ctrl+C): forgetting its queue "
        "and seen requests; the database says what is left to do",
        jobdir,
    )
    (jobdir / "requests.seen").unlink(missing_ok=True)
    shutil.rmtree(jobdir / "requests.queue", ignore_errors=True)
