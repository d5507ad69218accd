"""Playwright's driver (a Node.js process) started while Scrapy is still building the crawler.

scrapy-playwright starts the driver when the engine starts, and Node.js then loads Playwright
for 0.18-0.22 s before the browser can be launched: on 2 cores, one of them idle meanwhile.
Started from BrowserAddon instead, it loads while Scrapy imports scrapy-playwright and
Playwright and builds the downloader (about 0.2 s), and the browser is launched as soon as the
engine starts: 0.2 s less for every crawl that uses the browser (bench/jdpower.py: about 0.05
of the 5-context speed-up).

Playwright has no way to be handed a driver process, so its pipe transport is given one here
(`_AdoptingPipeTransport`, a subclass of its own), through a context variable that only
`EarlyDriverProvider.start` sets. A driver that is not there, has died or cannot be adopted
is not an error: Playwright then starts its own, as it always did. A driver nobody adopts
(a crawl that stops before its engine starts) ends with its pipe, when Python drops it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import subprocess
import sys
import weakref
from typing import Any

logger = logging.getLogger(__name__)

# crawler -> its driver, started by BrowserAddon
_started: weakref.WeakKeyDictionary[Any, subprocess.Popen[bytes]] = weakref.WeakKeyDictionary()
# the driver EarlyDriverProvider.start is handing to Playwright (a list: the transport empties it)
_adopt: contextvars.ContextVar[list[subprocess.Popen[bytes]] | None] = contextvars.ContextVar(
    "early_playwright_driver", default=None
)


def start_early(crawler: Any) -> None:
    """Start the driver for `crawler` (once)."""
    if crawler in _started or sys.platform == "win32":
        return
    try:
        from playwright._impl._driver import compute_driver_executable, get_driver_env

        node, cli = compute_driver_executable()
        _started[crawler] = subprocess.Popen(
            [node, cli, "run-driver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=get_driver_env(),
        )
    except Exception as exc:  # no driver here: Playwright says so itself, later
        logger.debug("Playwright's driver not started early: %s", exc)


def take(crawler: Any) -> subprocess.Popen[bytes] | None:
    """The driver started for `crawler`, if it is still running; it is the caller's now."""
    process = _started.pop(crawler, None)
    if process is not None and process.poll() is not None:
        return None
    return process


def discard(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()  # the driver ends at the end of its input
    if process.poll() is None:
        process.kill()


class _AdoptedProcess:
    """What PipeTransport uses of an asyncio subprocess, over a driver started with Popen."""

    def __init__(
        self, process: subprocess.Popen[bytes], stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader
    ) -> None:
        self.process = process
        self.pid = process.pid
        self.stdin = stdin
        self.stdout = stdout

    async def communicate(self) -> tuple[None, None]:
        """The driver's exit (PipeTransport's reader ends with it)."""
        await asyncio.to_thread(self.process.wait)
        return None, None


async def _adopt_pipes(process: subprocess.Popen[bytes], limit: int) -> _AdoptedProcess:
    loop = asyncio.get_running_loop()
    assert process.stdin is not None and process.stdout is not None
    reader = asyncio.StreamReader(limit=limit, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop), process.stdout)
    transport, protocol = await loop.connect_write_pipe(
        lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader(loop=loop), loop=loop), process.stdin
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return _AdoptedProcess(process, writer, reader)


def _install() -> None:
    """Playwright's out-of-process client builds its transport from this subclass, which adopts
    the driver `_adopt` holds (only inside EarlyDriverProvider.start) and else does as before,
    and which drops a message for a driver whose pipe is closed: Playwright still sends some
    after its driver died, which asyncio's own loop drops and uvloop refuses with an error that
    ended up in the log as a traceback."""
    from playwright._impl import out_of_process
    from playwright._impl.transport import PipeTransport

    if getattr(out_of_process.PipeTransport, "adopts_early_driver", False):
        return

    class _AdoptingPipeTransport(PipeTransport):
        adopts_early_driver = True

        async def connect(self) -> None:
            held = _adopt.get()
            process = held.pop() if held else None
            if process is None or process.poll() is not None:
                discard(process)
                await super().connect()
                return
            self._stopped_future: asyncio.Future[None] = asyncio.Future()
            try:
                self._proc = await _adopt_pipes(process, 32768)  # type: ignore[assignment]
            except Exception as exc:
                logger.debug("Playwright's early driver not adopted: %s", exc)
                discard(process)
                await super().connect()
                return
            self._output = self._proc.stdin

        def send(self, message: dict[str, Any]) -> None:
            if self._output is not None and self._output.is_closing():
                return  # the driver is gone: the call fails when its reader ends, as it should
            super().send(message)

    out_of_process.PipeTransport = _AdoptingPipeTransport  # type: ignore[misc]


async def start_playwright(process: subprocess.Popen[bytes] | None) -> tuple[Any, Any]:
    """Playwright's context manager and Playwright, started: on `process` when it is given."""
    from playwright.async_api import PlaywrightContextManager

    manager = PlaywrightContextManager()
    _install()
    if process is None:
        return manager, await manager.start()
    held = [process]
    token = _adopt.set(held)
    try:
        return manager, await manager.start()
    finally:
        _adopt.reset(token)
        discard(held.pop() if held else None)  # not adopted: nobody else would end it
