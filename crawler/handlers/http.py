"""A lean HTTP/1.1 download handler on asyncio: keep-alive connections, framing by llhttp.

Why our own: at 0 ms latency a Pinterest crawl is bound by the CPU of the one core Scrapy runs
on, and Twisted's HTTP client (agent, pool, endpoint, parser, producers, Deferred chains) was
the largest single share of it (`bench/pins.py --latency-ms 0 --http-client twisted` measures
it against this one). Scrapy 2.19's aiohttp handler was tried first and gave no gain here.

Framing is not ours: the status line, headers, Content-Length, chunked and close-delimited
bodies and 1xx answers are read by llhttp (Node.js's parser) through httptools, with its strict
defaults, bare-LF line endings aside (browsers and Twisted take them; nothing is forwarded, so
they smuggle nothing). On top of it, only what llhttp leaves to the caller: a HEAD answer ends
with its headers, a body without a length ends at the close, and a limit on the head's size.

A kept-alive connection goes back to the pool only when its answer ended exactly where its
framing said and nothing else arrived; any byte on an idle connection closes it. A server that
sends more than it announced would otherwise hand the next request the previous one's leftovers.

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
from collections import defaultdict, deque
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from httptools import HttpParserCallbackError, HttpParserError, HttpParserUpgrade, HttpResponseParser
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

MAX_HEAD = 64 * 1024  # status line + headers; a longer head is an error, not a response
_BUFFER_HIGH = 1024 * 1024  # body bytes read ahead of the consumer before reading pauses
_NO_BODY_STATUSES = frozenset({204, 304})


class ResponseDataLoss(DownloadFailedError):
    """The connection closed before the whole body arrived (Content-Length or chunks short)."""


class _StaleConnection(Exception):
    """A kept-alive connection was closed by the server before it answered: try a new one."""


class _Refused(Exception):
    """Raised from a parser callback: the answer breaks one of our limits."""


class _Connection(asyncio.Protocol):
    """One connection; it reads for the answer being awaited, and for nobody otherwise."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.answer: _Answer | None = None
        self.reusable = True
        self.peer: Any = None
        self.ssl_object: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not asyncio.Transport
        self.peer = transport.get_extra_info("peername")
        self.ssl_object = transport.get_extra_info("ssl_object")

    def data_received(self, data: bytes) -> None:
        if self.answer is not None:
            self.answer.feed(data)
        else:
            # bytes nobody asked for: the next answer read here could be them
            self.close()

    def eof_received(self) -> bool:
        self.reusable = False
        if self.answer is not None:
            self.answer.ended(None)
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if self.answer is not None:
            self.answer.ended(exc)

    def usable(self) -> bool:
        return self.reusable and self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class _Answer:
    """One response: llhttp's callbacks fill it; the handler awaits its head, then its body."""

    __slots__ = (
        "_body",
        "buffered",
        "chunked",
        "complete",
        "conn",
        "error",
        "extra",
        "has_length",
        "head",
        "head_bytes",
        "head_only",
        "head_size",
        "headers",
        "interim",
        "keep_alive",
        "parser",
        "paused",
        "received",
        "status",
        "version",
        "waiter",
    )

    def __init__(self, conn: _Connection, method: str, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.head_only = method == "HEAD"  # its headers may announce a body that never comes
        self.parser = HttpResponseParser(self)
        self.parser.set_dangerous_leniencies(lenient_optional_cr_before_lf=True, lenient_chunked_length=True)
        self.head: asyncio.Future[None] = loop.create_future()
        self.headers: list[tuple[bytes, bytes]] = []
        self.status = 0
        self.version = "HTTP/1.1"
        self.has_length = False
        self.chunked = False
        self.keep_alive = False
        self.interim = False  # inside a 1xx answer
        self.complete = False
        self.extra = False  # bytes came after the answer's end
        self.error: BaseException | None = None
        self.head_bytes = 0  # bytes read while the head is incomplete: bounds a head never ended
        self.head_size = 0
        self.received = 0
        self.buffered = 0
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self._body: deque[bytes] = deque()

    # --- fed by the connection ---
    def feed(self, data: bytes) -> None:
        if self.complete:
            self.extra = True
            return
        if not self.head.done():
            self.head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade:
            self._fail(DownloadFailedError("the server switched protocols (HTTP 101) unasked"))
        except HttpParserError as e:
            if self.complete:
                self.extra = True  # the answer was whole; what followed it was not HTTP
            elif isinstance(e, HttpParserCallbackError) and isinstance(e.__context__, _Refused):
                self._fail(DownloadFailedError(str(e.__context__)))
            else:
                self._fail(DownloadFailedError(f"not a valid HTTP/1.1 response: {e}"))
            return
        if not self.head.done() and self.head_bytes > MAX_HEAD and self.error is None:
            self._fail(DownloadFailedError(f"response headers longer than {MAX_HEAD} bytes"))
        elif self.buffered > _BUFFER_HIGH and not self.paused and self.conn.transport is not None:
            self.paused = True
            self.conn.transport.pause_reading()

    def ended(self, exc: Exception | None) -> None:
        """The server closed the connection (exc None) or it broke."""
        if self.complete or self.error is not None:
            return
        if not self.head.done():
            if self.head_bytes == 0:
                self._fail(_StaleConnection())
            else:
                self._fail(DownloadFailedError("the connection closed in the middle of the headers"))
        elif not self.has_length and not self.chunked and exc is None:
            self._finish()  # a body without a length ends when the server closes
        else:
            reason = f": {exc}" if exc is not None else ""
            self._fail(
                ResponseDataLoss(f"the connection closed after {self.received} bytes of the body{reason}")
            )

    # --- llhttp's callbacks ---
    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:
            return
        self.headers.append((name, value))
        # the size of what llhttp parsed, whether the head came in one read or a thousand
        self.head_size += len(name) + len(value) + 4
        if self.head_size > MAX_HEAD:
            raise _Refused(f"response headers longer than {MAX_HEAD} bytes")
        lower = name.lower()
        if lower == b"content-length":
            self.has_length = True
        elif lower == b"transfer-encoding":
            self.chunked = value.rstrip().lower().endswith(b"chunked")

    def on_headers_complete(self) -> None:
        if self.complete:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.interim = True  # 100 Continue, 103 Early Hints: the real answer follows
            self.headers = []
            self.head_size = 0
            self.has_length = self.chunked = False
            return
        self.status = status
        self.version = f"HTTP/{self.parser.get_http_version()}"
        # RFC 9112 6.3: with both, Transfer-Encoding wins and the connection must not be reused
        self.keep_alive = self.parser.should_keep_alive() and not (self.has_length and self.chunked)
        if status in _NO_BODY_STATUSES:
            self.has_length = True  # ends here, whatever a close says
        self.head.set_result(None)
        if self.head_only:
            self.has_length = True
            self._finish()

    def on_body(self, data: bytes) -> None:
        if self.complete:
            self.extra = True
            return
        self.received += len(data)
        self.buffered += len(data)
        self._body.append(data)
        self._wake()

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        if self.complete:
            self.extra = True  # a HEAD answer followed by a body
            return
        self._finish()

    # --- for the handler ---
    async def chunks(self) -> AsyncIterator[bytes]:
        body = self._body
        while True:
            while body:
                chunk = body.popleft()
                self.buffered -= len(chunk)
                if self.paused and self.buffered < _BUFFER_HIGH // 2 and self.conn.transport is not None:
                    self.paused = False
                    self.conn.transport.resume_reading()
                yield chunk
            if self.error is not None:
                raise self.error
            if self.complete:
                return
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.extra and not self.paused and self.conn.usable()

    def _finish(self) -> None:
        self.complete = True
        self._wake()

    def _fail(self, error: BaseException) -> None:
        self.error = error
        self.keep_alive = False
        if not self.head.done():
            self.head.set_exception(error)
        self._wake()
        self.conn.close()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class AsyncioHTTPDownloadHandler(BaseStreamingDownloadHandler[_Answer]):
    """http and https over asyncio, one request per kept-alive connection at a time."""

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
        loop = asyncio.get_running_loop()
        for _ in range(2):
            conn, reused = await self._connection(key)
            answer = _Answer(conn, method, loop)
            conn.answer = answer
            try:
                assert conn.transport is not None
                conn.transport.write(payload)
                await answer.head
                return answer
            except _StaleConnection:
                conn.close()
                if reused:
                    continue  # once more, on a new connection
                raise DownloadFailedError("the connection closed before a response arrived") from None
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
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(
                _Connection, host, port, ssl=tls, server_hostname=host if tls else None
            )
        except OSError as e:
            if isinstance(e, ConnectionRefusedError):
                raise DownloadConnectionRefusedError(f"{host}:{port}: {e}") from e
            if getattr(e, "errno", None) in (-2, -3, -5):  # socket.EAI_NONAME, EAI_AGAIN, EAI_NODATA
                raise CannotResolveHostError(f"{host}: {e}") from e
            raise DownloadFailedError(f"{host}:{port}: {e}") from e
        return conn, False

    def _release(self, key: tuple[str, str, int], answer: _Answer) -> None:
        conn = answer.conn
        conn.answer = None
        idle = self._idle[key]
        if answer.reusable() and len(idle) < self._max_idle:
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
