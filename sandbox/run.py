"""Run a command against a fresh sandbox: `python -m sandbox.run [knobs] -- scrapy crawl ...`

Starts the sandbox on a free loopback port, appends `-s SANDBOX_URL=...` to a `scrapy` command
(or exports SANDBOX_URL for any other command), runs it, stops the sandbox and exits with the
command's code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from .knobs import Knobs
from .process import SandboxProcess


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print("usage: python -m sandbox.run [knobs] -- COMMAND ...", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m sandbox.run")
    Knobs.add_arguments(parser)
    knobs = vars(parser.parse_args(argv[:split]))
    command = argv[split + 1 :]
    if not command:
        print("sandbox.run: no command after --", file=sys.stderr)
        return 2
    defaults = vars(parser.parse_args([]))
    changed = {k: v for k, v in knobs.items() if v != defaults[k]}
    with SandboxProcess(**changed) as sandbox:
        if os.path.basename(command[0]) == "scrapy":
            command += ["-s", f"SANDBOX_URL={sandbox.url}"]
        print(f"sandbox on {sandbox.url}; running: {' '.join(command)}", flush=True)
        try:
            return subprocess.call(command, env={**os.environ, "SANDBOX_URL": sandbox.url})
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    sys.exit(main())
