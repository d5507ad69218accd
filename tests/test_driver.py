"""Playwright's driver started early (crawler/driver.py): Playwright runs on it, or on its own."""

from __future__ import annotations

import psutil
import pytest
import pytest_twisted
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.test import get_crawler

from crawler import driver
from crawler.addons import CHROMIUM_ARGS, _find_chromium, _with_node_options

pytestmark = pytest.mark.browser


async def _launch_and_stop(early: object) -> tuple[int, set[int]]:
    """Start Playwright on `early`, launch Chromium: the driver's pid and the browser's parents."""
    manager, playwright = await driver.start_playwright(early)  # type: ignore[arg-type]
    try:
        browser = await playwright.chromium.launch(executable_path=_find_chromium(), args=list(CHROMIUM_ARGS))
        page = await browser.new_page()
        await page.set_content("<p>driver</p>")
        assert await page.inner_text("p") == "driver"
        parents = {p.ppid() for p in psutil.Process().children(recursive=True) if "chrom" in p.name()}
        transport = manager._client._transport  # the process Playwright talks to
        driver_pid = transport._proc.pid
        await browser.close()
    finally:
        await manager.__aexit__()
    return driver_pid, parents


@pytest_twisted.ensureDeferred
async def test_playwright_runs_on_the_driver_started_early_and_ends_it() -> None:
    crawler = get_crawler()
    driver.start_early(crawler)
    early = driver.take(crawler)
    assert early is not None and early.poll() is None
    assert driver.take(crawler) is None  # handed over once

    driver_pid, parents = await deferred_from_coro(_launch_and_stop(early))

    assert driver_pid == early.pid  # Playwright spoke to the early driver
    assert early.pid in parents  # which launched the browser
    assert early.wait(timeout=10) is not None  # and it ended with Playwright


@pytest_twisted.ensureDeferred
async def test_a_driver_that_died_before_the_engine_started_is_replaced_by_playwrights_own() -> None:
    crawler = get_crawler()
    driver.start_early(crawler)
    early = driver.take(crawler)
    assert early is not None
    early.kill()
    early.wait(timeout=10)

    driver_pid, parents = await deferred_from_coro(_launch_and_stop(early))

    assert driver_pid != early.pid
    assert driver_pid in parents


def test_the_drivers_heap_limits_join_a_users_node_options() -> None:
    ours = ["--max-semi-space-size=1", "--max-old-space-size=128"]
    assert _with_node_options("", ours) == "--max-semi-space-size=1 --max-old-space-size=128"
    assert _with_node_options("--use-openssl-ca", ours) == (
        "--use-openssl-ca --max-semi-space-size=1 --max-old-space-size=128"
    )
    # the user's own limit stays, and adding ours again adds nothing
    mine = _with_node_options("--max-old-space-size=512", ours)
    assert mine == "--max-old-space-size=512 --max-semi-space-size=1"
    assert _with_node_options(mine, ours) == mine
