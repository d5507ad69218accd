"""Shared fixtures: the sandbox (started once per session), paths, and crawl helpers.

Nothing here touches the internet: every crawl gets SANDBOX_URL, so all its downloads go to a
sandbox process on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from scrapy.utils.defer import deferred_from_coro

from sandbox.process import SandboxProcess
from tests.databases import (
    Database,
    drop_run_pg_database,
    empty_run_pg_database,
    made_before_migrations,  # noqa: F401  (a fixture, for every test folder)
    start_postgresql_run,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL_FIXTURES = ROOT.parent / "shared" / "fixtures" / "real"
SCRAPY = str(Path(sys.executable).with_name("scrapy"))

needs_real_fixtures = pytest.mark.skipif(
    not REAL_FIXTURES.is_dir(), reason="../shared/fixtures/real is absent (a fresh clone)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--database",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="where the tests' crawls write: SQLite files (default), or a PostgreSQL database of the "
        "run's own, made and dropped by it (CRAWLER_TEST_POSTGRES: the server's maintenance database)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """The tests' reactor runs on the event loop users get (ASYNCIO_EVENT_LOOP, uvloop): before
    pytest-twisted installs its own on asyncio's plain loop, which it then takes as it is. An
    in-process crawl with the project's settings refuses a loop other than the one they name."""
    from scrapy.utils.reactor import install_reactor

    from crawler import settings

    install_reactor(settings.TWISTED_REACTOR, settings.ASYNCIO_EVENT_LOOP)
    if config.getoption("database") == "postgresql":
        start_postgresql_run()


def pytest_unconfigure(config: pytest.Config) -> None:
    drop_run_pg_database()


@pytest.fixture(autouse=True)
def _empty_run_database():  # type: ignore[no-untyped-def]
    """Each test starts with the run's PostgreSQL database empty (a fresh file, with SQLite)."""
    empty_run_pg_database()
    yield


@pytest.fixture(scope="session")
def sandbox():
    """A sandbox with no faults, shared by the tests that only need a working site."""
    with SandboxProcess() as proc:
        yield proc


@pytest.fixture
def make_sandbox():
    """Start sandboxes with knobs; stopped after the test."""
    started: list[SandboxProcess] = []

    def start(**knobs: object) -> SandboxProcess:
        proc = SandboxProcess(**knobs).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@dataclass
class CrawlResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def _outputs_beside(db: Database | Path) -> list[str]:
    """Everything a crawl writes (database, images, metrics) in the test's own folder. A Path
    is a SQLite file (tests about SQLite files)."""
    if isinstance(db, Path):
        db = Database(f"sqlite:///{db}", db.parent)
    return [
        "-s", f"DATABASE_URL={db.url}",
        "-s", f"FILES_STORE={db.folder / 'images'}",
        "-s", f"METRICS_DIR={db.folder / 'metrics'}",
    ]  # fmt: skip


def crawl(
    spider: str,
    *args: str,
    sandbox_url: str | None,
    db: Database | Path | None = None,
    timeout: float = 180,
    env: dict[str, str] | None = None,
) -> CrawlResult:
    """`scrapy crawl SPIDER ARGS`, as a user runs it, in a child process."""
    cmd = [SCRAPY, "crawl", spider, *args]
    if sandbox_url:
        cmd += ["-s", f"SANDBOX_URL={sandbox_url}"]
    if db is not None:
        cmd += _outputs_beside(db)
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    return CrawlResult(proc.returncode, proc.stdout, proc.stderr)


def start_crawl(
    spider: str,
    *args: str,
    sandbox_url: str | None,
    db: Database | Path,
    log: Path,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    cmd = [SCRAPY, "crawl", spider, *args, *_outputs_beside(db)]
    if sandbox_url:
        cmd += ["-s", f"SANDBOX_URL={sandbox_url}"]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    _started_crawls.append(proc)
    return proc


_started_crawls: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _stop_started_crawls():  # type: ignore[no-untyped-def]
    """A crawl a test started and left running (it failed or timed out first) is killed with
    its browser: else it lived on after the test run, holding a Chromium."""
    yield
    while _started_crawls:
        proc = _started_crawls.pop()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: the driver and browser too
            proc.wait()


class SmallDisk:
    """Folders on tmpfs file systems of a few hundred KB: disks that fill up, for real."""

    def __init__(self) -> None:
        self.mounted: list[Path] = []

    def mount(self, folder: Path, size_kb: int) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        self.mounted.append(folder)
        return folder

    def grow(self, folder: Path, size_kb: int) -> None:
        """Free space, as a user would: the same folder, with room now."""
        subprocess.run(["mount", "-o", f"remount,size={size_kb}k", str(folder)], check=True)

    def unmount_all(self) -> None:
        for folder in self.mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.fixture
def small_disk():  # type: ignore[no-untyped-def]
    disk = SmallDisk()
    yield disk
    disk.unmount_all()


def interrupt(proc: subprocess.Popen[bytes]) -> None:
    """One Ctrl+C."""
    proc.send_signal(signal.SIGINT)


def db_rows(db: Database | Path, query: str) -> list[tuple]:
    if isinstance(db, Path):
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return conn.execute(query).fetchall()
    return db.rows(query)


def in_reactor(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., Any]:
    """An `async def` test run inside the test session's reactor (asyncio, pytest-twisted)."""

    @functools.wraps(test)
    @pytest_twisted.inlineCallbacks
    def run(*args: Any, **kwargs: Any) -> Any:
        yield deferred_from_coro(test(*args, **kwargs))

    return run


def write_ids(path: Path, ids: list[str] | range) -> Path:
    path.write_text("".join(f"{i}\n" for i in ids))
    return path
