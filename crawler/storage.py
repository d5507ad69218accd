"""Files the crawls save (pin images, report PDFs): whole or not at all, and a full disk said once.

A file goes to `<name>.part` first and is renamed into place, so a file under its real name is
always whole, whatever stops the crawl (kill -9 included). A disk that fills up (or a quota)
leaves no part behind; the crawl that met it stops with one line naming the folder, since every
file after it would fail the same way, and what it saved stays recorded. The next run, with
space freed, fetches what is missing.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.stopping import stop_crawl

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

PART = ".part"
REASON = "disk_full"  # the crawl's finish_reason (exit code 1)
_FULL = (errno.ENOSPC, errno.EDQUOT)

_told: weakref.WeakSet[Any] = weakref.WeakSet()  # crawls that were told


class DiskFull(OSError):
    """No space left (or over quota) where a file was being saved."""

    def __init__(self, folder: Path, size: int, cause: OSError) -> None:
        super().__init__(cause.errno, f"{cause.strerror} in {folder} ({size} bytes to write)")
        self.folder = folder


def write_whole(target: Path, data: bytes) -> None:
    """`data` to `target` through `<target>.part` and a rename. Raises DiskFull when it does not fit."""
    part = target.with_name(target.name + PART)
    try:
        part.write_bytes(data)
        os.replace(part, target)
    except OSError as exc:
        part.unlink(missing_ok=True)  # a cut part would hold the space the next file needs
        if exc.errno in _FULL:
            raise DiskFull(target.parent, len(data), exc) from exc
        raise


def stop_for_full_disk(crawler: Crawler, error: DiskFull, folder: object, setting: str) -> None:
    """Stop the crawl with one line naming `folder` (as the user named it, in `setting`), once
    per crawl."""
    if crawler in _told:
        return
    _told.add(crawler)
    try:
        free = f"{shutil.disk_usage(error.folder).free / 2**20:.1f} MB free"
    except OSError:
        free = "free space unknown"
    logger.error(
        "No space left in %s (%s, %s): stopping the crawl, nothing cut is kept; free some space "
        "and run the same command again",
        folder,
        setting,
        free,
    )
    crawler.stats.set_value("disk/full", str(folder))
    stop_crawl(crawler, REASON)
