"""A web server whose paths each misbehave, for the HTTP clients' tests (as Scrapy's mock server).

It writes raw bytes on the socket, so it can break HTTP in ways no framework lets it:

    /plain?n=X              200, `plain X`, kept alive: the "own answer" every case ends with
    /extra-bytes            200 `hello` (Content-Length: 5), then a whole second response
                            (`impostor`) in the same write
    /extra-bytes-later      the same, the second response 0.1 s after the first
    /extra-garbage          200 `hello`, then bytes that are not HTTP
    /truncated              Content-Length: 100, 40 bytes, close
    /truncated-chunked      a chunk cut in the middle, close
    /bad-chunk-size         chunk size `zz`
    /chunk-size-overflow    a chunk size of 18 hex digits
    /length-and-chunked     both Content-Length: 50 and Transfer-Encoding: chunked (`hello`)
    /negative-length        Content-Length: -5
    /repeated-length        Content-Length: 5 twice
    /conflicting-length     Content-Length: 5 and Content-Length: 6
    /interim                100 Continue and 103 Early Hints, then 200 `final`
    /http10                 HTTP/1.0, no length: the body ends at the close
    /close-delimited        HTTP/1.1, no length, Connection: close: the body ends at the close
    /connection-close-more  Connection: close, then more bytes before the close
    /bare-lf                lines ending in LF only
    /huge-header            one header of 100 KB
    /many-headers           5,000 headers (55 KB)
    /many-headers-oversized 10,000 headers (120 KB)
    /slow-headers           the head, a byte every 0.1 s
    /slow-body              Content-Length: 1000, a byte every 0.1 s
    /endless                200, no length, bytes until the client goes
    /endless-chunked        200, chunked, chunks until the client goes
    /gzip-bomb /deflate-bomb /br-bomb /zstd-bomb
                            256 MB of zeros, compressed (0.03-0.3 MB on the wire)
    /not-http               an SSH banner, connection left open
    /empty                  the connection closed without a byte
    /reset                  the connection reset (RST) without a byte
    /switch-protocols       101 Switching Protocols, unasked
    /no-content-with-body   204, then a body
    /head-with-length       (HEAD) Content-Length: 1000 and no body, kept alive
    /not-modified-with-length  304 with Content-Length: 1000, no body, kept alive

Every connection is served in turn: a request, its answer, the next request on it.
`connections` counts them.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable
from functools import cache
from urllib.parse import parse_qs, urlsplit

from tests.threaded_server import ThreadedServer

BOMB_SIZE = 256 * 1024 * 1024


def _response(body: bytes, *headers: bytes, status: bytes = b"200 OK", length: bool = True) -> bytes:
    head = [b"HTTP/1.1 " + status, *headers]
    if length:
        head.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join(head) + b"\r\n\r\n" + body


@cache
def _bomb(encoding: str) -> bytes:
    zeros = bytes(1024 * 1024)
    if encoding == "gzip":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    elif encoding == "deflate":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 15)
    elif encoding == "br":
        import brotli

        brotli_compressor = brotli.Compressor(quality=5)
        parts = [brotli_compressor.process(zeros) for _ in range(BOMB_SIZE // len(zeros))]
        return b"".join(parts) + brotli_compressor.finish()
    else:
        from backports import zstd  # type: ignore[import-not-found]

        zstd_compressor = zstd.ZstdCompressor(level=3)
        parts = [zstd_compressor.compress(zeros) for _ in range(BOMB_SIZE // len(zeros))]
        return b"".join(parts) + zstd_compressor.flush()
    parts = [compressor.compress(zeros) for _ in range(BOMB_SIZE // len(zeros))]
    return b"".join(parts) + compressor.flush()


Writer = asyncio.StreamWriter
Case = Callable[[Writer, dict[str, list[str]]], Awaitable[bool]]  # returns: keep the connection


async def _send(writer: Writer, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


def _fixed(data: bytes, keep: bool) -> Case:
    async def case(writer: Writer, query: dict[str, list[str]]) -> bool:
        await _send(writer, data)
        return keep

    return case


async def _plain(writer: Writer, query: dict[str, list[str]]) -> bool:
    await _send(writer, _response(b"plain " + query.get("n", [""])[0].encode()))
    return True


async def _extra_later(writer: Writer, query: dict[str, list[str]]) -> bool:
    await _send(writer, _response(b"hello"))
    await asyncio.sleep(0.1)
    await _send(writer, _response(b"impostor"))
    return True


async def _drip(writer: Writer, data: bytes) -> bool:
    for i in range(len(data)):
        await _send(writer, data[i : i + 1])
        await asyncio.sleep(0.1)
    return True


async def _slow_headers(writer: Writer, query: dict[str, list[str]]) -> bool:
    return await _drip(writer, _response(b"late"))


async def _slow_body(writer: Writer, query: dict[str, list[str]]) -> bool:
    await _send(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    return await _drip(writer, b"x" * 1000)


async def _endless(writer: Writer, query: dict[str, list[str]]) -> bool:
    await _send(writer, b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
    block = b"x" * 65536
    while not writer.is_closing():
        await _send(writer, block)
    return False


async def _endless_chunked(writer: Writer, query: dict[str, list[str]]) -> bool:
    await _send(writer, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    block = b"10000\r\n" + b"x" * 65536 + b"\r\n"
    while not writer.is_closing():
        await _send(writer, block)
    return False


def _bomb_case(encoding: str) -> Case:
    async def case(writer: Writer, query: dict[str, list[str]]) -> bool:
        body = await asyncio.to_thread(_bomb, encoding)
        await _send(writer, _response(body, b"Content-Encoding: " + encoding.encode()))
        return True

    return case


async def _reset(writer: Writer, query: dict[str, list[str]]) -> bool:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    return False


CASES: dict[str, Case] = {
    "/plain": _plain,
    "/extra-bytes": _fixed(_response(b"hello") + _response(b"impostor"), True),
    "/extra-bytes-later": _extra_later,
    "/extra-garbage": _fixed(_response(b"hello") + b"\x00\x01garbage\r\n\r\n", True),
    "/truncated": _fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40, False),
    "/truncated-chunked": _fixed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n10\r\nonly-half", False
    ),
    "/bad-chunk-size": _fixed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", True
    ),
    "/chunk-size-overflow": _fixed(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff5\r\nhello\r\n0\r\n\r\n", True
    ),
    "/length-and-chunked": _fixed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n" + b"x" * 50,
        True,
    ),
    "/negative-length": _fixed(b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nhello", True),
    "/repeated-length": _fixed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", True
    ),
    "/conflicting-length": _fixed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", True
    ),
    "/interim": _fixed(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
        + _response(b"final"),
        True,
    ),
    "/http10": _fixed(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold server", False),
    "/close-delimited": _fixed(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the close", False),
    "/connection-close-more": _fixed(
        _response(b"closing", b"Connection: close") + _response(b"impostor"), False
    ),
    "/bare-lf": _fixed(b"HTTP/1.1 200 OK\nContent-Length: 7\nX-Old: yes\n\nbare lf", True),
    "/huge-header": _fixed(_response(b"huge", b"X-Huge: " + b"h" * 100_000), True),
    "/many-headers": _fixed(_response(b"many", *(b"X-H%d: v" % i for i in range(5000))), True),
    "/many-headers-oversized": _fixed(
        _response(b"oversized", *(b"X-H%d: v" % i for i in range(10000))), True
    ),
    "/slow-headers": _slow_headers,
    "/slow-body": _slow_body,
    "/endless": _endless,
    "/endless-chunked": _endless_chunked,
    "/gzip-bomb": _bomb_case("gzip"),
    "/deflate-bomb": _bomb_case("deflate"),
    "/br-bomb": _bomb_case("br"),
    "/zstd-bomb": _bomb_case("zstd"),
    "/not-http": _fixed(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", True),
    "/empty": _fixed(b"", False),
    "/reset": _reset,
    "/switch-protocols": _fixed(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
        True,
    ),
    "/no-content-with-body": _fixed(b"HTTP/1.1 204 No Content\r\n\r\nsurprise", True),
    "/head-with-length": _fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", True),
    "/not-modified-with-length": _fixed(
        b'HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\nETag: "x"\r\n\r\n', True
    ),
}


class HostileServer(ThreadedServer):
    """The server above, on 127.0.0.1, in a thread with its own event loop."""

    name = "hostile-server"

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0

    def start(self) -> HostileServer:
        # the bombs take about a second each to compress: made before any request waits for one
        # against its 1 s DOWNLOAD_TIMEOUT (a slow machine timed out on the first otherwise)
        for encoding in ("gzip", "deflate", "br", "zstd"):
            _bomb(encoding)
        super().start()
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        self.connections += 1
        keep = True
        try:
            while keep:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await reader.readexactly(length)
                target = head.split(b" ", 2)[1].decode("ascii")
                parts = urlsplit(target)
                case = CASES.get(parts.path)
                if case is None:
                    await _send(writer, _response(b"no such case", status=b"404 Not Found"))
                    continue
                keep = await case(writer, parse_qs(parts.query))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()
