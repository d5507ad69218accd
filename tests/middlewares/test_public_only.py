"""Only public http(s) addresses are fetched: literal addresses, names that resolve to private
ones, other schemes; the sandbox's own address alone is let through when SANDBOX_URL names it."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from scrapy import Request
from scrapy.utils.test import get_crawler

from crawler.middlewares.public_only import AddressRefused, PublicAddressesOnly, address_refusal
from tests.conftest import in_reactor


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("127.0.0.1", "a loopback address (127.0.0.1)"),
        ("10.1.2.3", "a private address (10.1.2.3)"),
        ("192.168.0.10", "a private address (192.168.0.10)"),
        ("169.254.169.254", "a link-local address (169.254.169.254)"),  # cloud metadata services
        ("224.0.0.1", "a multicast address (224.0.0.1)"),
        ("0.0.0.0", "an unspecified address (0.0.0.0)"),
        ("[::1]", "a loopback address (::1)"),
        ("::ffff:10.0.0.1", "a private address (10.0.0.1)"),
        ("fe80::1", "a link-local address (fe80::1)"),
        ("100.64.0.1", "not a public address (100.64.0.1)"),
        ("93.184.215.14", None),
        ("2606:4700::1111", None),
        ("example.com", None),  # a name: resolved first
    ],
)
def test_which_addresses_are_refused(address: str, refused: str | None) -> None:
    assert address_refusal(address) == refused


def _middleware(**settings: Any) -> PublicAddressesOnly:
    return PublicAddressesOnly.from_crawler(get_crawler(settings_dict=settings))


async def _refusal(middleware: PublicAddressesOnly, url: str) -> str | None:
    try:
        await middleware.process_request(Request(url))
    except AddressRefused as exc:
        return str(exc)
    return None


@in_reactor
async def test_names_resolving_to_private_addresses_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"intranet.example": "10.0.0.5", "public.example": "93.184.215.14"}
    asked: list[str] = []

    async def getaddrinfo(self: Any, host: str, port: int, **kwargs: Any) -> list[tuple]:
        asked.append(host)
        if host not in answers:
            raise socket.gaierror("no such name")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    import asyncio

    monkeypatch.setattr(type(asyncio.get_running_loop()), "getaddrinfo", getaddrinfo)
    middleware = _middleware()
    assert await _refusal(middleware, "https://intranet.example/x") == (
        "https://intranet.example/x: intranet.example resolves to a private address (10.0.0.5),"
        " which is not fetched"
    )
    assert await _refusal(middleware, "https://public.example/x") is None
    assert await _refusal(middleware, "https://public.example/y") is None
    assert asked.count("public.example") == 1  # cached
    assert await _refusal(middleware, "https://nowhere.example/") is None  # the download says it
    assert await _refusal(middleware, "file:///etc/passwd") == (
        "file:///etc/passwd: only http and https are fetched, not 'file'"
    )
    assert (
        await _refusal(middleware, "data:text/plain,hi")
        == "data:text/plain,hi: only http and https are fetched, not 'data'"
    )
    assert (
        await _refusal(middleware, "http://localhost:8080/")
        == "http://localhost:8080/: localhost is not fetched"
    )
    assert (
        await _refusal(middleware, "http://[::1]/")
        == "http://[::1]/: a loopback address (::1) is not fetched"
    )


@in_reactor
async def test_with_the_sandbox_only_its_own_address_is_let_through(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    async def no_resolving(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a name was resolved with SANDBOX_URL set")

    monkeypatch.setattr(type(asyncio.get_running_loop()), "getaddrinfo", no_resolving)
    middleware = _middleware(SANDBOX_URL="http://127.0.0.1:8765")
    assert await _refusal(middleware, "http://127.0.0.1:8765/watch") is None
    assert await _refusal(middleware, "https://www.youtube.com/watch?v=x") is None
    assert await _refusal(middleware, "http://127.0.0.1:8766/") == (
        "http://127.0.0.1:8766/: a loopback address (127.0.0.1) is not fetched"
    )
