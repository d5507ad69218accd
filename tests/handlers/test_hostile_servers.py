"""Both HTTP clients (HTTP_CLIENT=asyncio, ours; twisted, Scrapy's) against servers that break
HTTP (tests/hostile_server.py): each answer is what a user should get, and afterwards a plain
request to the same host gets its own answer, three times over.

Requests pass through what stands around the handler in a crawl for these cases: the download
timeout (DOWNLOAD_TIMEOUT) and decompression (HttpCompressionMiddleware, DOWNLOAD_MAXSIZE).

Where the clients differ, the expectation for each is written out with the reason ours is
right; where both are fooled, the test says so.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import pytest
from scrapy import Request
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.downloadermiddlewares.downloadtimeout import DownloadTimeoutMiddleware
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import (
    DownloadCancelledError,
    DownloadFailedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from scrapy.utils.test import get_crawler

from crawler.handlers.http import AsyncioHTTPDownloadHandler
from tests.conftest import in_reactor
from tests.hostile_server import CASES, HostileServer

CLIENTS = {"asyncio": AsyncioHTTPDownloadHandler, "twisted": HTTP11DownloadHandler}
TIMEOUT = 1.0
MAXSIZE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    body: bytes | None = None  # an answer with this body (and status)
    status: int = 200
    error: type[BaseException] | None = None  # or this error
    flags: tuple[str, ...] = ()


def answer(body: bytes, status: int = 200, flags: tuple[str, ...] = ()) -> Outcome:
    return Outcome(body=body, status=status, flags=flags)


def fails(error: type[BaseException]) -> Outcome:
    return Outcome(error=error)


# path -> what each client gives; a single Outcome when both agree
EXPECTED: dict[str, Outcome | dict[str, Outcome]] = {
    "/extra-bytes": answer(b"hello"),
    # the leftovers come while the connection waits for reuse, and it is dropped (both). Had they
    # come after the next request was sent, no HTTP/1.1 client could tell them from its answer
    # (tried: both hand it "impostor" then, and drop the connection after)
    "/extra-bytes-later": answer(b"hello"),
    "/extra-garbage": answer(b"hello"),
    "/truncated": fails(ResponseDataLossError),
    "/truncated-chunked": fails(ResponseDataLossError),
    # Twisted calls a broken chunk size data loss; both are retried
    "/bad-chunk-size": {"asyncio": fails(DownloadFailedError), "twisted": fails(ResponseDataLossError)},
    # Twisted waits for a chunk of 2**68 bytes until the timeout; llhttp refuses the size at once
    "/chunk-size-overflow": {"asyncio": fails(DownloadFailedError), "twisted": fails(DownloadTimeoutError)},
    # RFC 9112 6.3: Transfer-Encoding wins (both), and the connection is not reused (ours)
    "/length-and-chunked": answer(b"hello"),
    "/negative-length": fails(DownloadFailedError),
    # RFC 9110 8.6 allows either: Twisted takes equal duplicates as one, llhttp (Node.js) refuses
    # any duplicate, as a desync risk when a proxy in between reads the other one
    "/repeated-length": {"asyncio": fails(DownloadFailedError), "twisted": answer(b"hello")},
    "/conflicting-length": fails(DownloadFailedError),
    "/interim": answer(b"final"),
    # a body ended by the server's clean close is whole (RFC 9112 6.3, rule 8): Twisted flags it
    # "partial" as it cannot tell; ours tells a close (whole) from a reset (data loss)
    "/http10": {"asyncio": answer(b"old server"), "twisted": answer(b"old server", flags=("partial",))},
    "/close-delimited": {
        "asyncio": answer(b"until the close"),
        "twisted": answer(b"until the close", flags=("partial",)),
    },
    "/connection-close-more": answer(b"closing"),
    "/bare-lf": answer(b"bare lf"),
    "/huge-header": fails(DownloadFailedError),
    "/many-headers": answer(b"many"),
    # 10,000 short headers, 110 KB: ours stops at 64 KB of head; Twisted has no limit on the
    # whole head (only 16 KB per line), so a server can make it hold any amount
    "/many-headers-oversized": {"asyncio": fails(DownloadFailedError), "twisted": answer(b"oversized")},
    "/slow-headers": fails(DownloadTimeoutError),
    "/slow-body": fails(DownloadTimeoutError),
    "/endless": fails(DownloadCancelledError),
    "/endless-chunked": fails(DownloadCancelledError),
    "/gzip-bomb": fails(IgnoreRequest),
    "/deflate-bomb": fails(IgnoreRequest),
    "/br-bomb": fails(IgnoreRequest),
    "/zstd-bomb": fails(IgnoreRequest),
    "/not-http": fails(DownloadFailedError),
    "/empty": fails(DownloadFailedError),
    "/reset": fails(DownloadFailedError),
    # we never ask to upgrade: Twisted waits for a body until the timeout, ours fails at once
    "/switch-protocols": {"asyncio": fails(DownloadFailedError), "twisted": fails(DownloadTimeoutError)},
    "/no-content-with-body": answer(b"", status=204),
    "/head-with-length": answer(b""),
    "/not-modified-with-length": answer(b"", status=304),
}

# answers after which ours keeps the connection for the next request
KEEPS_CONNECTION = {"/interim", "/bare-lf", "/many-headers", "/head-with-length", "/not-modified-with-length"}


def expected(path: str, client: str) -> Outcome:
    outcome = EXPECTED[path]
    return outcome[client] if isinstance(outcome, dict) else outcome


@pytest.fixture(scope="module")
def server() -> Any:
    hostile = HostileServer().start()
    yield hostile
    hostile.stop()


def test_every_case_of_the_server_has_an_expectation():
    assert set(EXPECTED) == set(CASES) - {"/plain"}


class Client:
    """A handler with the download timeout before it and decompression after it."""

    def __init__(self, name: str) -> None:
        crawler = get_crawler(settings_dict={"DOWNLOAD_TIMEOUT": TIMEOUT, "DOWNLOAD_MAXSIZE": MAXSIZE})
        self.handler = CLIENTS[name].from_crawler(crawler)
        self.timeout = DownloadTimeoutMiddleware.from_crawler(crawler)
        self.compression = HttpCompressionMiddleware.from_crawler(crawler)

    async def fetch(self, url: str, method: str = "GET") -> Any:
        request = Request(url, method=method)
        self.timeout.process_request(request)
        self.compression.process_request(request)
        response = await self.handler.download_request(request)
        return self.compression.process_response(request, response)


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("path", list(EXPECTED))
@in_reactor
async def test_hostile_answer_then_the_same_host_answers_each_request_with_its_own(server, path, client):
    want = expected(path, client)
    http = Client(client)
    method = "HEAD" if path == "/head-with-length" else "GET"
    started = time.monotonic()
    if want.error is not None:
        with pytest.raises(want.error):
            await http.fetch(server.url(path), method)
    else:
        response = await http.fetch(server.url(path), method)
        assert (response.status, response.body) == (want.status, want.body)
        assert tuple(response.flags) == want.flags
    assert time.monotonic() - started < TIMEOUT + 2, "a hostile answer must end by DOWNLOAD_TIMEOUT"
    if path == "/extra-bytes-later":
        await asyncio.sleep(0.3)  # the leftovers arrive while the connection waits for reuse
    connections = server.connections
    for n in ("first", "second", "third"):
        own = await http.fetch(server.url(f"/plain?n={n}-{path}"))
        assert own.body == f"plain {n}-{path}".encode()
    if client == "asyncio" and path in KEEPS_CONNECTION:
        assert server.connections == connections, "a clean answer's connection is reused"
    await http.handler.close()
