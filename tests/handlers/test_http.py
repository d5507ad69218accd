"""The asyncio HTTP/1.1 handler against a local server that sends exact bytes: keep-alive,
chunked and close-delimited bodies, truncation, stale connections, timeouts, sizes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.utils.test import get_crawler

from crawler.handlers.http import AsyncioHTTPDownloadHandler
from crawler.handlers.sandbox import SandboxAsyncioHTTPDownloadHandler
from tests.conftest import in_reactor


class WireServer:
    """Answers each request with the next scripted reply: (bytes, then close the connection?)."""

    def __init__(self, replies: list[tuple[bytes, bool]], *, close_idle: bool = False) -> None:
        self.replies = list(replies)
        self.requests: list[bytes] = []
        self.connections = 0
        self.close_idle = close_idle  # close every connection after its first answer, silently
        self.server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> WireServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.requests.append(head + (await reader.readexactly(length) if length else b""))
                data, close = self.replies.pop(0)
                if data:
                    writer.write(data)
                    await writer.drain()
                if close or self.close_idle:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


def ok(body: bytes, *extra: bytes) -> tuple[bytes, bool]:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    return head + b"".join(h + b"\r\n" for h in extra) + b"\r\n" + body, False


def handler(cls: type = AsyncioHTTPDownloadHandler, **settings: Any) -> AsyncioHTTPDownloadHandler:
    return cls.from_crawler(get_crawler(settings_dict=settings))


@in_reactor
async def test_keep_alive_reuses_one_connection_and_sends_what_was_asked():
    async with WireServer([ok(b'{"a": 1}'), ok(b'{"b": 2}', b"Set-Cookie: x=1")]) as server:
        h = handler()
        first = await h.download_request(Request(server.url("/p?q=1"), headers={"X-Test": "yes"}))
        second = await h.download_request(Request(server.url("/post"), method="POST", body=b"k=v"))
        await h.close()
    assert (first.status, first.body, first.url) == (200, b'{"a": 1}', server.url("/p?q=1"))
    assert second.body == b'{"b": 2}' and second.headers.getlist("Set-Cookie") == [b"x=1"]
    assert first.protocol == "HTTP/1.1" and str(first.ip_address) == "127.0.0.1"
    assert server.connections == 1
    get, post = server.requests
    assert get.startswith(b"GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port)
    assert b"\r\nX-Test: yes\r\n" in get
    assert post.startswith(b"POST /post HTTP/1.1\r\n") and post.endswith(b"Content-Length: 3\r\n\r\nk=v")


@in_reactor
async def test_chunked_body_with_trailers():
    reply = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    async with WireServer([(reply, False), ok(b"next")]) as server:
        h = handler()
        response = await h.download_request(Request(server.url()))
        after = await h.download_request(Request(server.url()))
        await h.close()
    assert response.body == b"hello, world" and after.body == b"next"
    assert server.connections == 1


@in_reactor
async def test_body_until_close_is_read_whole_and_the_connection_is_not_reused():
    async with WireServer([(b"HTTP/1.1 200 OK\r\n\r\nall of it", True), ok(b"again")]) as server:
        h = handler()
        response = await h.download_request(Request(server.url()))
        again = await h.download_request(Request(server.url()))
        await h.close()
    assert response.body == b"all of it" and again.body == b"again"
    assert server.connections == 2


@in_reactor
async def test_truncated_body_is_data_loss_not_a_short_response():
    truncated = (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40, True)
    async with WireServer([truncated, truncated]) as server:
        h = handler()
        with pytest.raises(ResponseDataLossError):
            await h.download_request(Request(server.url()))
        lenient = await h.download_request(Request(server.url(), meta={"download_fail_on_dataloss": False}))
        await h.close()
    assert lenient.body == b"x" * 40 and "dataloss" in lenient.flags


@in_reactor
async def test_a_connection_the_server_dropped_while_idle_is_replaced():
    async with WireServer([ok(b"one"), ok(b"two")], close_idle=True) as server:
        h = handler()
        assert (await h.download_request(Request(server.url()))).body == b"one"
        await asyncio.sleep(0.05)  # the server has closed the kept-alive connection by now
        assert (await h.download_request(Request(server.url()))).body == b"two"
        await h.close()
    assert server.connections == 2


@in_reactor
async def test_refused_connection_and_timeout_are_scrapy_errors_retry_knows():
    async with WireServer([]) as server:
        port = server.port
    h = handler()
    with pytest.raises(DownloadConnectionRefusedError):
        await h.download_request(Request(f"http://127.0.0.1:{port}/"))
    async with WireServer([(b"", False)]) as silent:  # reads the request, never answers
        with pytest.raises(DownloadTimeoutError):
            await h.download_request(Request(silent.url(), meta={"download_timeout": 0.3}))
    await h.close()


@in_reactor
async def test_download_maxsize_cancels_big_bodies():
    async with WireServer([ok(b"y" * 5000)]) as server:
        h = handler(DOWNLOAD_MAXSIZE=1000)
        with pytest.raises(DownloadCancelledError):
            await h.download_request(Request(server.url()))
        await h.close()


@in_reactor
async def test_sandbox_variant_connects_to_the_sandbox_and_keeps_the_real_url_and_host():
    async with WireServer([ok(b"pin")]) as server:
        h = handler(SandboxAsyncioHTTPDownloadHandler, SANDBOX_URL=server.url())
        url = "https://www.pinterest.com/resource/PinResource/get/?data=1"
        response = await h.download_request(Request(url))
        await h.close()
    assert response.url == url and response.body == b"pin"
    assert server.requests[0].startswith(
        b"GET /resource/PinResource/get/?data=1 HTTP/1.1\r\nHost: www.pinterest.com\r\n"
    )


def _self_signed(tmp_path: Any) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


@in_reactor
async def test_https_like_scrapy_does_it(tmp_path):
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*_self_signed(tmp_path))
    served: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(ok(b"secure")[0])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    h = handler()  # Scrapy's default TLS settings: no certificate verification, as its own client
    response = await h.download_request(Request(f"https://localhost:{port}/x"))
    await h.close()
    server.close()
    assert response.body == b"secure" and response.certificate
    assert served[0].startswith(b"GET /x HTTP/1.1\r\nHost: localhost:%d\r\n" % port)
