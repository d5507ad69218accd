"""A TCP proxy to a local server (PostgreSQL here) that a test can take down and bring back:
down, every connection through it is reset and new ones are closed at once, as when the
server stops; up, it forwards again."""

from __future__ import annotations

import asyncio

from tests.threaded_server import ThreadedServer


class TcpProxy(ThreadedServer):
    name = "tcp-proxy"

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        super().__init__()
        self.target = (target_host, target_port)
        self._up = True
        self._open: set[asyncio.StreamWriter] = set()

    def down(self) -> None:
        async def cut() -> None:
            self._up = False
            for writer in list(self._open):
                writer.transport.abort()

        self.call(cut())

    def up(self) -> None:
        self._up = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._up:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._open.difference_update((writer, up_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
