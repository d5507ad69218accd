"""The one way to start the sandbox from Python: a child process on a free loopback port.

Used by the tests, the benchmarks and `make demo`:

    with SandboxProcess(latency_ms=200) as sandbox:
        sandbox.url          # http://127.0.0.1:PORT
        sandbox.stats()      # what it served
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class SandboxProcess:
    def __init__(self, *, port: int = 0, cpu: int | None = None, **knobs: Any) -> None:
        self.port = port
        self.cpu = cpu  # pin the server to one core so benchmarks measure the client
        self.knobs = knobs
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> SandboxProcess:
        args = [sys.executable, "-m", "sandbox", "--port", str(self.port)]
        for name, value in self.knobs.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        if self.cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(self.proc.pid, {self.cpu})
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("sandbox ready"):
                self.url = line.split()[-1]
                return self
            if not line and self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"sandbox did not start: {line.strip()}")

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/_sandbox/stats", timeout=10) as resp:
            return json.load(resp)

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/_sandbox/reset", method="POST")
        urllib.request.urlopen(req, timeout=10).close()

    def expire_sessions(self) -> int:
        """Log every client out now (each site's live sessions expire); how many there were."""
        req = urllib.request.Request(f"{self.url}/_sandbox/expire-sessions", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(json.load(resp)["expired"])

    def fail(self, path: str, times: int = 1) -> None:
        """The next `times` requests for `path` (any method), or of a route when `path` is its
        name in the stats (e.g. "/reports/*"), answer HTTP 500."""
        query = urllib.parse.urlencode({"path": path, "times": times})
        req = urllib.request.Request(f"{self.url}/_sandbox/fail?{query}", method="POST")
        urllib.request.urlopen(req, timeout=10).close()

    def truncate(self, route: str, times: int = 1, *, drop: bool = False) -> None:
        """The next `times` answers of `route` (its name in the stats, e.g. "/reports/*") are
        cut in half; `drop`: the connection closes half-way through a body announced whole."""
        query = urllib.parse.urlencode({"route": route, "times": times, "drop": int(drop)})
        req = urllib.request.Request(f"{self.url}/_sandbox/truncate?{query}", method="POST")
        urllib.request.urlopen(req, timeout=10).close()

    def count(self, host: str, route: str, status: str | None = None) -> int:
        counts = self.stats()["requests"].get(f"{host} {route}", {})
        return counts.get(status, 0) if status else sum(counts.values())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
