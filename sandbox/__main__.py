"""`python -m sandbox --port PORT [knobs]`: serve every emulated site on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from aiohttp import web

from .knobs import Knobs
from .server import build_app


async def _serve(port: int, knobs: Knobs) -> None:
    runner = web.AppRunner(build_app(knobs), access_log=None, handle_signals=False)
    await runner.setup()
    # Loopback only: the sandbox is a test double and must never be reachable from outside.
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"sandbox ready on http://127.0.0.1:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument(
        "--port",
        type=int,
        default=8765,
        help="TCP port on 127.0.0.1 (0 = any free port)",
    )
    Knobs.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.port, Knobs.from_args(args)))
    except OSError as exc:
        print(
            f"sandbox: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
