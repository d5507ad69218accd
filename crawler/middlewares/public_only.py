"""Links from a batch are user input: only public http(s) addresses are fetched, on every hop.

Scrapy fetches `file:` and `data:` URLs and any address a name resolves to, private ones
included (nothing in Scrapy refuses them), so a batch, or a page's redirect, could make the
crawl read local files or reach services on the machine's own network. This middleware runs on
every request the engine downloads, redirects included (RedirectMiddleware sends each hop
through the downloader middlewares again), and refuses with a one-line reason naming the URL:
schemes other than http and https, and hosts that are, or resolve to, a loopback, private,
link-local, multicast, reserved or unspecified address. Names are resolved through the event
loop's resolver (cached for `_TTL_S`); a name that does not resolve is left to the download,
which fails with its own error.

With SANDBOX_URL set, no real name is resolved (every download goes to the sandbox): literal
addresses and `localhost` are still refused, except the sandbox's own host and port.

Left alone: a name that resolves to a public address here and to a private one when the
download resolves it again (DNS rebinding) is not caught.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

_TTL_S = 60.0


class AddressRefused(IgnoreRequest):
    """A URL the crawl does not fetch; the message says why and names it."""


def address_refusal(address: str) -> str | None:
    """Why `address` (an IP literal) is not a public one, or None when it is."""
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, flag in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if flag:
            return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address ({ip})"
    if not ip.is_global:
        return f"not a public address ({ip})"
    return None


class PublicAddressesOnly:
    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        sandbox = crawler.settings.get("SANDBOX_URL")
        self.sandbox: tuple[str, int | None] | None = None
        if sandbox:
            parts = urlsplit(sandbox)
            self.sandbox = ((parts.hostname or "").lower(), parts.port)
        self._resolved: dict[str, tuple[float, str | None]] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PublicAddressesOnly:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        reason = await self.refusal(request.url)
        if reason is not None:
            self.stats.inc_value("links/refused_addresses")
            raise AddressRefused(f"{request.url}: {reason}")

    async def refusal(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return f"only http and https are fetched, not {parts.scheme or 'no scheme'!r}"
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            return "no host"
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return "not a valid port"
        if self.sandbox is not None and (host, port) == self.sandbox:
            return None  # the sandbox's own address, which SANDBOX_URL names
        literal = address_refusal(host)
        if literal is not None:
            return f"{literal} is not fetched"
        if host == "localhost" or host.endswith(".localhost"):
            return "localhost is not fetched"
        if self.sandbox is not None:
            return None  # the sandbox answers for every name: none is resolved
        refused = await self._resolve(host, port)
        return f"{host} resolves to {refused}, which is not fetched" if refused else None

    async def _resolve(self, host: str, port: int) -> str | None:
        now = time.monotonic()
        cached = self._resolved.get(host)
        if cached is not None and now - cached[0] < _TTL_S:
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError:
            return None  # the download will fail to resolve it too, in its own words
        refused = next((r for r in (address_refusal(str(info[4][0])) for info in infos) if r), None)
        if len(self._resolved) > 10_000:
            self._resolved.clear()
        self._resolved[host] = (now, refused)
        return refused
