"""Stopping a crawl from a component that found it cannot go on (the database gone for good, a
full disk): the engine closes the spider with the component's reason, which `scrapy crawl`
turns into exit code 1 (crawler/commands/crawl.py)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from crawler.browser import Background

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

_closing = Background()


def running_engine(crawler: Crawler | None) -> Any:
    """The crawler's engine once the crawl runs, else None."""
    try:
        return crawler.engine if crawler is not None else None
    except RuntimeError:  # Scrapy's way of saying it is not set yet
        return None


def stop_crawl(crawler: Crawler | None, reason: str) -> None:
    """Close the spider with `reason`, in the background; nothing if the crawl is not running."""
    engine = running_engine(crawler)
    if engine is not None:
        engine.unpause()  # a paused engine (crawler/pipelines/database.py) would not drain
        _closing.spawn(_close(engine, reason))


async def _close(engine: Any, reason: str) -> None:
    with contextlib.suppress(RuntimeError):  # not open any more: nothing to stop
        await engine.close_spider_async(reason=reason)
