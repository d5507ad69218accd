"""A lean HTTP/1.1 download handler on asyncio: keep-alive connections, nothing else.

Why our own: at 0 ms latency a Pinterest crawl is bound by the CPU of the one core Scrapy runs
on, and Twisted's HTTP client (agent, pool, endpoint, parser, producers, Deferred chains) was
the largest single share of it: 40% of the crawl's CPU in cProfile (7.7 of 19 s, 5,000 pins),
against 15% for this handler (2.1 of 14 s), whose whole crawl took 17% less time
(`bench/pins.py --latency-ms 0 --http-client twisted` measures the other). Scrapy 2.19's aiohttp
handler was tried first and gave no gain here.

What stays Scrapy's: everything after the bytes arrive. It subclasses Scrapy's streaming
handler base (private module, version pinned in requirements.txt), which applies
DOWNLOAD_MAXSIZE/WARNSIZE, the headers_received/bytes_received signals (StopDownload),
DOWNLOAD_FAIL_ON_DATALOSS and builds the Response. Decompression, cookies, redirects and retries
stay in their middlewares. TLS uses Scrapy's own SSL context from the settings.

What it hands to Scrapy's Twisted handler instead: requests through a proxy or with a
per-request bind address, and every request when DOWNLOAD_BIND_ADDRESS is set.

`connect_to` lets the sandbox add-on send every download to a local server while the request,
its Host header and the response keep the real URL (crawler/handlers/sandbox.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections import defaultdict
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from scrapy.core.downloader.handlers._base_streaming import BaseStreamingDownloadHandler
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    UnsupportedURLSchemeError,
)
from scrapy.http import Headers
from scrapy.utils.ssl import _make_ssl_context

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy import Request
    from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
    from scrapy.crawler import Crawler
    from scrapy.http import Response

_CHUNK = 64 * 1024
_MAX_HEAD = 64 * 1024  # status line + headers; a longer head is an error, not a response
_NO_BODY_STATUSES = frozenset({204, 304})


class ResponseDataLoss(DownloadFailedError):
    """The connection closed before the whole body arrived (Content-Length or chunks short)."""


class _StaleConnection(Exception):
    """A kept-alive connection was closed by the server before it answered: try a new one."""


class _Connection:
    __slots__ = ("peer", "reader", "ssl_object", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.peer = writer.get_extra_info("peername")
        self.ssl_object = writer.get_extra_info("ssl_object")

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class _Answer:
    """One response being read: status, headers, then the body as chunks."""

    __slots__ = ("chunked", "conn", "done", "headers", "keep_alive", "length", "status", "version")

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self.status = 0
        self.version = "HTTP/1.1"
        self.headers: dict[bytes, list[bytes]] = {}
        self.length: int | None = None
        self.chunked = False
        self.keep_alive = True
        self.done = False

    async def read_head(self, method: str, reused: bool) -> None:
        reader = self.conn.reader
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as e:
                if reused and not e.partial:
                    raise _StaleConnection from e
                raise DownloadFailedError("the connection closed before a response arrived") from e
            except asyncio.LimitOverrunError as e:
                raise DownloadFailedError(f"response headers longer than {_MAX_HEAD} bytes") from e
            except ConnectionError as e:
                if reused:
                    raise _StaleConnection from e
                raise DownloadFailedError(str(e)) from e
            lines = head[:-4].split(b"\r\n")
            status_line = lines[0].split(b" ", 2)
            try:
                self.version = status_line[0].decode("ascii")
                self.status = int(status_line[1])
            except (IndexError, ValueError, UnicodeDecodeError) as e:
                raise DownloadFailedError(f"not an HTTP response: {lines[0][:80]!r}") from e
            if 100 <= self.status < 200 and self.status != 101:
                continue  # 100 Continue and friends come before the real answer
            break
        headers = self.headers
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if sep:
                headers.setdefault(name.strip(), []).append(value.strip())
        connection = _header(headers, b"connection")
        if self.version == "HTTP/1.0":
            self.keep_alive = connection is not None and connection.lower() == b"keep-alive"
        else:
            self.keep_alive = connection is None or connection.lower() != b"close"
        encoding = _header(headers, b"transfer-encoding")
        length = _header(headers, b"content-length")
        if method == "HEAD" or self.status in _NO_BODY_STATUSES:
            self.length = 0
        elif encoding is not None and encoding.lower().endswith(b"chunked"):
            self.chunked = True
        elif length is not None:
            try:
                self.length = int(length)
            except ValueError as e:
                raise DownloadFailedError(f"bad Content-Length: {length[:40]!r}") from e
        else:
            self.keep_alive = False  # the body ends when the server closes the connection

    async def chunks(self) -> AsyncIterator[bytes]:
        reader = self.conn.reader
        try:
            if self.chunked:
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while await reader.readuntil(b"\r\n") != b"\r\n":
                            pass  # trailers
                        break
                    yield await reader.readexactly(size)
                    await reader.readexactly(2)
            elif self.length is not None:
                remaining = self.length
                while remaining:
                    chunk = await reader.read(min(remaining, _CHUNK))
                    if not chunk:
                        raise ResponseDataLoss(
                            f"got {self.length - remaining} of {self.length} bytes of the body"
                        )
                    remaining -= len(chunk)
                    yield chunk
            else:
                while chunk := await reader.read(_CHUNK):
                    yield chunk
        except asyncio.IncompleteReadError as e:
            raise ResponseDataLoss("the connection closed in the middle of a chunked body") from e
        except (ValueError, asyncio.LimitOverrunError) as e:
            raise DownloadFailedError(f"bad chunked body: {e}") from e
        except ConnectionError as e:
            raise ResponseDataLoss(str(e)) from e
        self.done = True


def _header(headers: dict[bytes, list[bytes]], name: bytes) -> bytes | None:
    for key, values in headers.items():
        if key.lower() == name:
            return values[-1]
    return None


class AsyncioHTTPDownloadHandler(BaseStreamingDownloadHandler[_Answer]):
    """http and https over asyncio streams, one request per kept-alive connection at a time."""

    supports_proxies: ClassVar[bool] = True  # by handing them to Scrapy's Twisted handler

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._ssl_context: ssl.SSLContext = _make_ssl_context(crawler.settings)
        self._idle: defaultdict[tuple[str, str, int], list[_Connection]] = defaultdict(list)
        self._max_idle = max(1, self._pool_size_per_host)
        self._twisted: HTTP11DownloadHandler | None = None

    # --- where to connect; the sandbox handler overrides this ---
    def connect_to(self, scheme: str, host: str, port: int) -> tuple[str, str, int]:
        return scheme, host, port

    async def download_request(self, request: Request) -> Response:
        if request.meta.get("proxy") or request.meta.get("bindaddress") or self._bind_address:
            return await self._twisted_handler().download_request(request)
        return await super().download_request(request)

    def _twisted_handler(self) -> HTTP11DownloadHandler:
        if self._twisted is None:
            # imported on first use: Twisted's HTTP client costs ~0.1 s of start-up
            from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler

            self._twisted = HTTP11DownloadHandler(self.crawler)
        return self._twisted

    @asynccontextmanager
    async def _make_request(self, request: Request, timeout: float) -> AsyncIterator[_Answer]:
        parts = urlsplit(request.url)
        scheme = parts.scheme
        if scheme not in ("http", "https") or not parts.hostname:
            raise UnsupportedURLSchemeError(f"cannot download {request.url}")
        host = parts.hostname
        port = parts.port or (443 if scheme == "https" else 80)
        key = self.connect_to(scheme, host, port)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        host_header = parts.netloc.rpartition("@")[2]
        payload = self._serialize(request, path, host_header)
        try:
            async with asyncio.timeout(timeout):
                answer = await self._exchange(key, payload, request.method)
                try:
                    yield answer
                finally:
                    self._release(key, answer)
        except TimeoutError as e:
            raise DownloadTimeoutError(f"Getting {request.url} took longer than {timeout} seconds.") from e

    async def _exchange(self, key: tuple[str, str, int], payload: bytes, method: str) -> _Answer:
        for _ in range(2):
            conn, reused = await self._connection(key)
            try:
                conn.writer.write(payload)
                answer = _Answer(conn)
                await answer.read_head(method, reused)
                return answer
            except _StaleConnection:
                conn.close()
                continue  # once more, on a new connection
            except BaseException:
                conn.close()
                raise
        raise DownloadFailedError("the server closed two connections without answering")

    async def _connection(self, key: tuple[str, str, int]) -> tuple[_Connection, bool]:
        idle = self._idle[key]
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn, True
            conn.close()
        scheme, host, port = key
        tls = self._ssl_context if scheme == "https" else None
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls, server_hostname=host if tls else None, limit=_MAX_HEAD
            )
        except OSError as e:
            if isinstance(e, ConnectionRefusedError):
                raise DownloadConnectionRefusedError(f"{host}:{port}: {e}") from e
            if getattr(e, "errno", None) in (-2, -3, -5):  # socket.EAI_NONAME, EAI_AGAIN, EAI_NODATA
                raise CannotResolveHostError(f"{host}: {e}") from e
            raise DownloadFailedError(f"{host}:{port}: {e}") from e
        return _Connection(reader, writer), False

    def _release(self, key: tuple[str, str, int], answer: _Answer) -> None:
        conn = answer.conn
        idle = self._idle[key]
        if answer.done and answer.keep_alive and conn.usable() and len(idle) < self._max_idle:
            idle.append(conn)
        else:
            conn.close()

    @staticmethod
    def _serialize(request: Request, path: str, host_header: str) -> bytes:
        lines = [f"{request.method} {path} HTTP/1.1\r\n".encode("ascii")]
        has_host = False
        for name, values in request.headers.items():
            lower = name.lower()
            if lower == b"proxy-authorization" or lower == b"content-length":
                continue
            if lower == b"host":
                has_host = True
            for value in values:
                lines.append(b"%s: %s\r\n" % (name, value))
        if not has_host:
            lines.insert(1, b"Host: %s\r\n" % host_header.encode("idna"))
        body = request.body
        if body or request.method in ("POST", "PUT", "PATCH"):
            lines.append(b"Content-Length: %d\r\n" % len(body))
        lines.append(b"\r\n")
        if body:
            lines.append(body)
        return b"".join(lines)

    @staticmethod
    def _extract_headers(response: _Answer) -> Headers:
        return Headers(response.headers)

    @staticmethod
    def _build_base_response_args(response: _Answer, request: Request, headers: Headers) -> Any:
        peer = response.conn.peer
        ssl_object = response.conn.ssl_object
        return {
            "status": response.status,
            "url": request.url,
            "headers": headers,
            "certificate": ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None,
            "ip_address": ipaddress.ip_address(peer[0]) if peer else None,
            "protocol": response.version,
        }

    @staticmethod
    def _iter_body_chunks(response: _Answer) -> AsyncIterator[bytes]:
        return response.chunks()

    @staticmethod
    def _is_dataloss_exception(exc: Exception) -> bool:
        return isinstance(exc, ResponseDataLoss)

    async def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        if self._twisted is not None:
            await self._twisted.close()
