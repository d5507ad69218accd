"""The project deployed to a local Scrapyd with authentication on, as a user would: `scrapyd-deploy`
with the credentials from the environment, `schedule.json` with spider arguments and `-s`
settings, status, the job's log, its items, cancel, a bad argument, and a request without
credentials."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from scrapy.spiderloader import SpiderLoader
from scrapy.utils.project import get_project_settings

from tests.conftest import ROOT, write_ids
from tests.databases import database

pytestmark = pytest.mark.browser  # the jdpower job logs in through Chromium

USER, PASSWORD = "deployer", "scrapyd-Test-s3cret"
BIN = Path(sys.executable).parent


@dataclass
class Scrapyd:
    url: str
    folder: Path

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/{path}", auth=(USER, PASSWORD), timeout=30, **kwargs)

    def schedule(self, spider: str, *pairs: tuple[str, str]) -> str:
        answer = self.call("POST", "schedule.json", data=[("project", "crawler"), ("spider", spider), *pairs])
        assert answer.status_code == 200 and answer.json()["status"] == "ok", answer.text
        return str(answer.json()["jobid"])

    def wait(self, job: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while self.call("GET", "status.json", params={"job": job}).json()["currstate"] != "finished":
            assert time.monotonic() < deadline, f"job {job} not finished in {timeout:.0f} s"
            time.sleep(0.3)

    def log(self, spider: str, job: str) -> str:
        answer = self.call("GET", f"logs/crawler/{spider}/{job}.log")
        assert answer.status_code == 200, answer.status_code
        return answer.text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def scrapyd(tmp_path: Path) -> Iterator[Scrapyd]:
    """A Scrapyd on loopback with authentication, started from the project's scrapyd.conf (its
    port and folders moved into the test's own)."""
    folder = tmp_path / "scrapyd"
    folder.mkdir()
    port = _free_port()
    conf = (ROOT / "scrapyd.conf").read_text()
    conf = re.sub(r"(?m)^http_port = .*$", f"http_port = {port}", conf)
    conf = re.sub(r"(?m)^poll_interval = .*$", "poll_interval = 0.3", conf)
    (folder / "scrapyd.conf").write_text(conf)
    env = {**os.environ, "SCRAPYD_USERNAME": USER, "SCRAPYD_PASSWORD": PASSWORD}
    with (folder / "scrapyd.log").open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "scrapyd"), "--pidfile="], cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    server = Scrapyd(f"http://127.0.0.1:{port}", folder)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if server.call("GET", "daemonstatus.json").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (folder / "scrapyd.log").read_text()
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _deploy(server: Scrapyd, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`scrapyd-deploy local` from a copy of the project whose target points at this Scrapyd."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("setup.py", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "crawler", project / "crawler", ignore=shutil.ignore_patterns("__pycache__"))
    cfg = (ROOT / "scrapy.cfg").read_text()
    (project / "scrapy.cfg").write_text(re.sub(r"(?m)^url = .*$", f"url = {server.url}", cfg))
    env = {**os.environ, "SCRAPYD_USERNAME": USER, "SCRAPYD_PASSWORD": PASSWORD}
    return subprocess.run(
        [str(BIN / "scrapyd-deploy"), "local", "--version", "1"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_schedule_and_read_a_job_through_scrapyd_with_authentication(
    scrapyd: Scrapyd, make_sandbox, tmp_path: Path
) -> None:
    deployed = _deploy(scrapyd, tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    # every spider of the project is in the egg
    spiders = sorted(SpiderLoader.from_settings(get_project_settings()).list())
    assert {"jdpower", "links", "pins", "pins_search"} <= set(spiders)
    assert '"status": "ok"' in deployed.stdout and f'"spiders": {len(spiders)}' in deployed.stdout
    listed = scrapyd.call("GET", "listspiders.json", params={"project": "crawler"}).json()
    assert sorted(listed["spiders"]) == spiders

    # nobody gets in without the credentials
    assert requests.get(f"{scrapyd.url}/daemonstatus.json", timeout=10).status_code == 401
    anonymous = requests.post(
        f"{scrapyd.url}/schedule.json", data={"project": "crawler", "spider": "pins"}, timeout=10
    )
    assert anonymous.status_code == 401
    assert (
        requests.get(f"{scrapyd.url}/daemonstatus.json", auth=(USER, "wrong"), timeout=10).status_code == 401
    )

    # pins with spider arguments and -s settings, its database of the test's own
    sb = make_sandbox(latency_ms=20)
    db = database(tmp_path)
    ids = write_ids(tmp_path / "ids.txt", range(2_400_000, 2_400_040))
    settings = [
        f"DATABASE_URL={db.url}",
        f"SANDBOX_URL={sb.url}",
        "BROWSER_ENABLED=False",
        "CONCURRENT_REQUESTS=8",
        f"METRICS_DIR={tmp_path / 'metrics'}",
    ]
    job = scrapyd.schedule(
        "pins", ("ids_file", str(ids)), ("images", "0"), *(("setting", s) for s in settings)
    )
    scrapyd.wait(job)
    assert db.rows("SELECT count(*) FROM pins WHERE details_fetched_at IS NOT NULL") == [(40,)]
    log = scrapyd.log("pins", job)
    assert "Spider closed (finished)" in log and "'CONCURRENT_REQUESTS': '8'" in log
    assert "Traceback" not in log and PASSWORD not in log
    items = scrapyd.call("GET", f"items/crawler/pins/{job}.jl")
    assert items.status_code == 200 and len(items.text.splitlines()) == 40
    jobs = scrapyd.call("GET", "listjobs.json", params={"project": "crawler"}).json()
    assert [j["id"] for j in jobs["finished"]] == [job]

    # a bad argument: the job ends, its log holds the same one line as the command line's
    bad = scrapyd.schedule("pins", ("bogus", "1"), ("setting", f"DATABASE_URL={db.url}"))
    scrapyd.wait(bad)
    errors = [line for line in scrapyd.log("pins", bad).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and errors[0].endswith(
        "ERROR: pins: unknown argument(s) bogus; use -a ids_file=PATH, -a keyword=K, -a images=0|1"
    ), errors

    # secrets from the .env beside scrapyd.conf, as on the command line: the jdpower login uses
    # them (and fails, the password being wrong), naming the user and never the password
    portal = make_sandbox(vehicles=2, jd_user="env-user", jd_pass="the-right-one")
    (scrapyd.folder / ".env").write_text("JD_USER=env-user\nJD_PASS=wrong-Pass-from-env\n")
    login = scrapyd.schedule(
        "jdpower",
        ("setting", f"JDPOWER_BASE_URL={portal.url}"),
        ("setting", f"DATABASE_URL={db.url}"),
        ("setting", f"JDPOWER_OUTPUT_DIR={tmp_path / 'downloads'}"),
    )
    scrapyd.wait(login)
    login_log = scrapyd.log("jdpower", login)
    errors = [line for line in login_log.splitlines() if "] ERROR: " in line]
    assert len(errors) == 1 and "'env-user'" in errors[0] and "Invalid username or password" in errors[0]
    assert "wrong-Pass-from-env" not in login_log

    # cancel: the job stops as after one Ctrl+C, keeping what it stored
    slow = make_sandbox(latency_ms=3000)
    many = write_ids(tmp_path / "many.txt", range(2_500_000, 2_500_400))
    long_job = scrapyd.schedule(
        "pins",
        ("ids_file", str(many)),
        ("images", "0"),
        ("setting", f"DATABASE_URL={db.url}"),
        ("setting", f"SANDBOX_URL={slow.url}"),
        ("setting", "BROWSER_ENABLED=False"),
    )
    deadline = time.monotonic() + 60
    while slow.count("www.pinterest.com", "/resource/PinResource/get/") == 0:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert (
        scrapyd.call("POST", "cancel.json", data={"project": "crawler", "job": long_job}).json()["status"]
        == "ok"
    )
    scrapyd.wait(long_job)
    assert "Closing spider (shutdown)" in scrapyd.log("pins", long_job)
