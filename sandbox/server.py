"""The sandbox HTTP server: host-based dispatch, fault injection and request accounting."""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .knobs import Knobs

Handler = Callable[[web.Request, "re.Match[str]"], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str  # how the route is counted in /_sandbox/stats
    faults: bool = True  # latency, rate limit and errors apply
    site: str | None = None  # the site whose --site-latency-ms applies; None: the host's site


@dataclass
class Stats:
    started: float = field(default_factory=time.time)
    by_route: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    fetches: Counter[str] = field(default_factory=Counter)  # successful answers per resource id
    # per route: when its first and last answers went out, so a client's steady rate can be
    # read from the server's side, its start-up and exit excluded
    spans: dict[str, list[float]] = field(default_factory=dict)
    # time-weighted concurrency: how many requests the sandbox held at once, on average
    inflight: int = 0
    peak_inflight: int = 0
    first_at: float | None = None
    last_at: float = 0.0
    area: float = 0.0

    def enter(self) -> None:
        self._advance()
        self.inflight += 1
        self.peak_inflight = max(self.peak_inflight, self.inflight)

    def leave(self) -> None:
        self._advance()
        self.inflight -= 1

    def _advance(self) -> None:
        now = time.monotonic()
        if self.first_at is None:
            self.first_at = now
        else:
            self.area += self.inflight * (now - self.last_at)
        self.last_at = now

    def as_dict(self) -> dict[str, Any]:
        busy = (self.last_at - self.first_at) if self.first_at is not None else 0.0
        return {
            "busy_s": round(busy, 3),
            "mean_inflight": round(self.area / busy, 2) if busy > 0 else 0.0,
            "peak_inflight": self.peak_inflight,
            "uptime_s": round(time.time() - self.started, 3),
            "requests": {route: dict(c) for route, c in sorted(self.by_route.items())},
            "span_s": {route: round(last - first, 4) for route, (first, last) in sorted(self.spans.items())},
            "total": sum(sum(c.values()) for c in self.by_route.values()),
            "resources": self._resources(),
        }

    def _resources(self) -> dict[str, dict[str, int]]:
        """Per kind (`pin`, `image`, `search`): resources served, and how many were served again."""
        kinds: dict[str, list[int]] = defaultdict(list)
        for key, count in self.fetches.items():
            kinds[key.split(":", 1)[0]].append(count)
        return {
            kind: {"unique": len(counts), "repeated": sum(n - 1 for n in counts), "max_fetches": max(counts)}
            for kind, counts in sorted(kinds.items())
        }


class TokenBucket:
    """Allows `rate` requests per second with a burst of one second's worth."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take a token; return 0 when allowed, else the seconds until one is free."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Sandbox:
    def __init__(self, knobs: Knobs) -> None:
        self.knobs = knobs
        self.rng = random.Random(knobs.seed)
        self.stats = Stats()
        self.bucket = TokenBucket(knobs.rate_limit) if knobs.rate_limit > 0 else None
        self.sites: dict[str, list[Route]] = {}
        self.site_names: dict[str, str] = {}  # host -> its site's name (--site-latency-ms)
        # the routes of any host no site claims: the open web, where any article URL exists
        self.default_site: tuple[str, list[Route]] | None = None
        # each site's "log everybody out": what a deploy or a security reset does to live sessions
        self.session_droppers: list[Callable[[], int]] = []
        # path or route name -> how many of its next requests answer 500
        self.failing: dict[str, int] = {}
        # route name -> (how many of its next answers are cut, whether the connection drops)
        self.cutting: dict[str, tuple[int, bool]] = {}

    def add_site(self, hosts: tuple[str, ...], routes: list[Route], *, name: str | None = None) -> None:
        for host in hosts:
            self.sites[host] = routes
            if name:
                self.site_names[host] = name

    def add_default_site(self, name: str, routes: list[Route]) -> None:
        self.default_site = (name, routes)

    def record_fetch(self, resource_id: str) -> None:
        self.stats.fetches[resource_id] += 1

    def chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def cut(self, request: web.Request) -> str | None:
        """Whether a body that can be cut is cut this time: None (whole), "cut" (half of it, with
        a Content-Length that says so) or "drop" (half of it, after a Content-Length announcing
        all of it, then the connection closes). `--truncate-rate` cuts; `/_sandbox/truncate`
        cuts the next answers of a route as it says."""
        name = request.get(_ROUTE)
        times, drop = self.cutting.get(name, (0, False)) if name else (0, False)
        if name and times > 0:
            self.cutting[name] = (times - 1, drop)
            return "drop" if drop else "cut"
        return "cut" if self.chance(self.knobs.truncate_rate) else None

    async def body(
        self,
        request: web.Request,
        body: bytes,
        cut: str | None,
        *,
        content_type: str,
        charset: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.StreamResponse:
        """`body` answered as `cut` (from `cut(request)`) says: whole, cut in half with a
        Content-Length that says so, or announced whole and the connection closed half-way."""
        if cut == "drop":
            response = web.StreamResponse(headers=headers)
            response.content_type = content_type
            if charset:
                response.charset = charset
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            await response.drain()
            if request.transport is not None:
                request.transport.close()
            return response
        if cut == "cut":
            body = body[: len(body) // 2]
        return web.Response(body=body, content_type=content_type, charset=charset, headers=headers)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_sandbox/"):
            return await self._control(request)
        host = (request.headers.get("X-Forwarded-Host") or request.host).split(":")[0].lower()
        routes = self.sites.get(host)
        site = self.site_names.get(host)
        if routes is None and self.default_site is not None and host not in _RESERVED_HOSTS:
            site, routes = self.default_site
        if routes is None:
            return self._count(
                f"{host} ?",
                web.Response(status=404, text=f"sandbox: unknown host {host}\n"),
            )
        for route in routes:
            if route.method != request.method and not (route.method == "GET" and request.method == "HEAD"):
                continue
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            key = f"{host} {route.name}"
            request[_ROUTE] = route.name
            stats = self.stats
            stats.enter()
            try:
                for failing in (request.path, route.name):
                    if self.failing.get(failing, 0) > 0:
                        self.failing[failing] -= 1
                        return self._count(key, _server_error())
                if route.faults:
                    fault = await self._inject_faults(route.site or site)
                    if fault is not None:
                        return self._count(key, fault)
                return self._count(key, await route.handler(request, match))
            finally:
                stats.leave()
        return self._count(f"{host} ?", web.Response(status=404, text="sandbox: no such page\n"))

    async def _inject_faults(self, site: str | None) -> web.StreamResponse | None:
        knobs = self.knobs
        if self.bucket is not None:
            wait = self.bucket.take()
            if wait > 0:
                retry_after = max(1, int(wait + 0.999))
                return web.json_response(
                    {"status": "failure", "code": 429, "message": "Too many requests"},
                    status=429,
                    headers={"Retry-After": str(retry_after)},
                )
        base = knobs.site_latency.get(site, knobs.latency_ms) if site else knobs.latency_ms
        delay = base + (self.rng.uniform(0, knobs.jitter_ms) if knobs.jitter_ms else 0.0)
        if delay > 0:
            await asyncio.sleep(delay / 1000.0)
        if self.chance(knobs.error_rate):
            return _server_error()
        return None

    def _count(self, key: str, response: web.StreamResponse) -> web.StreamResponse:
        stats = self.stats
        stats.by_route[key][str(response.status)] += 1
        now = time.monotonic()
        span = stats.spans.setdefault(key, [now, now])
        span[1] = now
        return response

    async def _control(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/_sandbox/stats":
            return web.json_response(self.stats.as_dict())
        if request.path == "/_sandbox/reset" and request.method == "POST":
            self.stats = Stats()
            return web.json_response({"reset": True})
        if request.path == "/_sandbox/expire-sessions" and request.method == "POST":
            return web.json_response({"expired": sum(drop() for drop in self.session_droppers)})
        if request.path == "/_sandbox/fail" and request.method == "POST":
            # the next `times` requests for `path`, a path or a route's name in the stats
            # ("/reports/*"), answer 500, whatever the knobs say
            path, times = request.query.get("path", ""), request.query.get("times", "1")
            if not path.startswith("/") or not times.isdigit():
                return web.Response(status=400, text="sandbox: fail needs ?path=/...&times=N\n")
            self.failing[path] = int(times)
            return web.json_response({"path": path, "times": int(times)})
        if request.path == "/_sandbox/truncate" and request.method == "POST":
            # the next `times` answers of route `route` (its name in the stats) are cut in half;
            # with drop=1 the connection closes half-way through a body announced whole
            route, times = request.query.get("route", ""), request.query.get("times", "1")
            drop = request.query.get("drop", "0") == "1"
            if not route or not times.isdigit():
                return web.Response(status=400, text="sandbox: truncate needs ?route=...&times=N\n")
            self.cutting[route] = (int(times), drop)
            return web.json_response({"route": route, "times": int(times), "drop": drop})
        return web.Response(status=404, text="sandbox: unknown control path\n")


_ROUTE = "sandbox_route"  # request key: the name of the route answering it
# hosts that are never "the open web": an unknown name there is a test's mistake, said as a 404
_RESERVED_HOSTS = ("127.0.0.1", "localhost")


def _server_error() -> web.Response:
    return web.Response(
        status=500, text="<html><body>Internal Server Error</body></html>", content_type="text/html"
    )


def build_app(knobs: Knobs) -> web.Application:
    from . import articles, bilibili, jdpower, pinterest, reddit, youtube

    sandbox = Sandbox(knobs)
    pinterest.register(sandbox)
    jdpower.register(sandbox)
    youtube.register(sandbox)
    bilibili.register(sandbox)
    reddit.register(sandbox)
    articles.register(sandbox)
    app = web.Application()
    app["sandbox"] = sandbox
    app.router.add_route("*", "/{tail:.*}", sandbox.dispatch)
    return app
