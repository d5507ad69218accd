"""Pinterest, as the crawler sees it: www.pinterest.com and the i.pinimg.com image CDN.

- ``GET /``: the home page. ``_pinterest_sess`` comes as a cookie header; ``csrftoken`` is set by an
  inline script (``document.cookie``), as the web app does, with the app version in ``__PWS_DATA__``.
- ``GET /resource/PinResource/get/?source_url=/pin/ID/&data={"options":{"id":"ID",...}}``: the
  ``resource_response`` envelope around a pin shaped like the real REST answer (snake_case,
  ``images.{236x,474x,736x,orig}``, ``board``, ``pinner``, ``aggregated_pin_data.aggregated_stats``,
  RFC 2822 ``created_at``). It needs the session cookie and an ``X-CSRFToken`` header equal to the
  ``csrftoken`` cookie (403 otherwise). Unknown pins answer 404 with a ``failure`` envelope.
- ``GET https://i.pinimg.com/{236x,474x,736x,originals}/aa/bb/cc/SIG.jpg``: real JPEG files.

Any numeric id is a pin; its content is a pure function of (seed, id). The image signature
carries the pin id, so the CDN needs no memory of what the API served.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import random
import re
import secrets
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from aiohttp import web

from . import stable
from .server import Route, Sandbox

HOSTS = ("www.pinterest.com", "pinterest.com")
IMAGE_HOSTS = ("i.pinimg.com",)
APP_VERSION = "a37dc27"
_SECRET = b"sandbox-pinterest"

_WORDS = [
    "autumn",
    "garden",
    "cozy",
    "kitchen",
    "minimal",
    "wedding",
    "vintage",
    "summer",
    "recipe",
    "easy",
    "healthy",
    "modern",
    "rustic",
    "boho",
    "diy",
    "ideas",
    "home",
    "decor",
    "outfit",
    "street",
    "style",
    "travel",
    "tips",
    "quick",
    "dinner",
    "bedroom",
    "cottage",
    "watercolor",
    "sketch",
    "pastel",
    "neon",
    "ocean",
    "mountain",
    "city",
    "night",
    "coffee",
    "bakery",
    "lemon",
    "cake",
    "salad",
]
_LAST = [
    "Smith",
    "Novak",
    "Garcia",
    "Rossi",
    "Muller",
    "Kowalski",
    "Silva",
    "Dubois",
    "Jensen",
    "Ito",
    "Khan",
    "Berg",
]
_DOMAINS = (
    "kimsaeed.com",
    "buzzfeed.com",
    "stockcake.com",
    "etsy.com",
    "allrecipes.com",
    "medium.com",
)
_RATIOS = ((2, 3), (3, 4), (1, 1), (9, 16), (4, 5), (7, 12))


def pin_rng(seed: int, pin_id: int) -> random.Random:
    return random.Random(f"{seed}:{pin_id}")


def _fraction(seed: int, salt: str, pin_id: int) -> float:
    return stable.fraction(seed, salt, str(pin_id))


def is_missing(seed: int, pin_id: int, rate: float) -> bool:
    """Whether a pin does not exist: stable for an id, as a deleted pin stays deleted."""
    return rate > 0 and _fraction(seed, "missing", pin_id) < rate


def image_signature(pin_id: int) -> str:
    """32 hex digits like Pinterest's: a checksum, then the pin id, so the CDN can decode it."""
    body = f"{pin_id:024x}"
    return hashlib.md5(body.encode()).hexdigest()[:8] + body


def pin_id_from_signature(sig: str) -> int | None:
    if len(sig) != 32 or hashlib.md5(sig[8:].encode()).hexdigest()[:8] != sig[:8]:
        return None
    return int(sig[8:], 16)


def pin_dims(seed: int, pin_id: int) -> tuple[int, int]:
    """Size of the original image (its own stream, so the CDN need not build the whole pin)."""
    rng = random.Random(f"{seed}:dims:{pin_id}")
    rw, rh = rng.choice(_RATIOS)
    width = rng.choice((736, 900, 1000, 1200))
    return width, width * rh // rw


def image_url(size: str, pin_id: int) -> str:
    sig = image_signature(pin_id)
    folder = "originals" if size == "orig" else size
    return f"https://i.pinimg.com/{folder}/{sig[:2]}/{sig[2:4]}/{sig[4:6]}/{sig}.jpg"


def make_pin(seed: int, pin_id: int) -> dict[str, Any]:
    """The `data` of a PinResource answer for this pin."""
    rng = pin_rng(seed, pin_id)
    words = rng.sample(_WORDS, rng.randint(3, 7))
    title = " ".join(words).capitalize()
    first, last = rng.choice(stable.NAMES), rng.choice(_LAST)
    username = f"{first.lower()}{last.lower()}{rng.randint(1, 999)}"
    board = " ".join(rng.sample(_WORDS, 2)).title()
    domain = rng.choice(_DOMAINS)
    ow, oh = pin_dims(seed, pin_id)
    created = datetime.fromtimestamp(rng.randint(1_330_000_000, 1_730_000_000), UTC)
    saves = int(rng.lognormvariate(4, 2))
    images: dict[str, dict[str, Any]] = {}
    for size, width in (
        ("170x", 236),
        ("236x", 236),
        ("474x", 474),
        ("564x", 564),
        ("736x", 736),
    ):
        w = min(width, ow)
        images[size] = {
            "width": w,
            "height": oh * w // ow,
            "url": image_url(size.replace("170x", "236x"), pin_id),
        }
    images["orig"] = {"width": ow, "height": oh, "url": image_url("orig", pin_id)}
    return {
        "node_id": _node_id("Pin", pin_id),
        "id": str(pin_id),
        "type": "pin",
        "title": title if rng.random() > 0.15 else "",
        "grid_title": title,
        "description": " ".join(rng.sample(_WORDS, rng.randint(5, 12))) if rng.random() > 0.2 else " ",
        "link": f"https://{domain}/{'-'.join(words)}/",
        "domain": domain,
        "is_video": False,
        "videos": None,
        "created_at": created.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        "dominant_color": f"#{rng.randrange(0x1000000):06x}",
        "image_signature": image_signature(pin_id),
        "images": images,
        "board": {
            "node_id": _node_id("Board", pin_id // 7),
            "id": str(pin_id // 7),
            "name": board,
            "url": f"/{username}/{board.lower().replace(' ', '-')}/",
            "privacy": "public",
        },
        "pinner": {
            "node_id": _node_id("User", pin_id // 13),
            "id": str(pin_id // 13),
            "username": username,
            "full_name": f"{first} {last}",
            "image_medium_url": f"https://i.pinimg.com/75x75_RS/{image_signature(pin_id // 13)[:2]}/x.jpg",
            "follower_count": rng.randint(0, 50_000),
        },
        "aggregated_pin_data": {
            "node_id": _node_id("AggregatedPinData", pin_id // 3),
            "id": str(pin_id // 3),
            "aggregated_stats": {"saves": saves, "done": rng.randint(0, 20)},
            "has_xy_tags": False,
        },
        "repin_count": 0,
        "comment_count": rng.randint(0, 40),
        "reaction_counts": {"1": rng.randint(0, 900)},
        "is_promoted": False,
        "alt_text": None,
        "rich_summary": None,
    }


def _node_id(kind: str, num: int) -> str:
    import base64

    return base64.b64encode(f"{kind}:{num}".encode()).decode()


SEARCH_PAGE_SIZE = 25


def search_pin_id(seed: int, query: str, index: int) -> int:
    """The `index`-th result of a search: an 18-digit id, stable for (seed, query, index)."""
    digest = hashlib.blake2b(f"{seed}:search:{query.lower()}:{index}".encode(), digest_size=8).digest()
    return 10**17 + int.from_bytes(digest, "big") % (9 * 10**17)


def search_result(seed: int, pin_id: int) -> dict[str, Any]:
    """A pin as a search page lists it: like PinResource's, without the aggregated stats."""
    pin = make_pin(seed, pin_id)
    pin["aggregated_pin_data"] = {"node_id": pin["aggregated_pin_data"]["node_id"], "has_xy_tags": False}
    return pin


def _bookmark(query: str, offset: int) -> str:
    import base64

    raw = f"{offset}|{hashlib.md5(query.lower().encode()).hexdigest()[:12]}|sandbox"
    return base64.b64encode(raw.encode()).decode()


def _bookmark_offset(bookmark: str, query: str) -> int:
    import base64

    offset, check, _ = base64.b64decode(bookmark).decode().split("|")
    if check != hashlib.md5(query.lower().encode()).hexdigest()[:12]:
        raise ValueError("bookmark of another query")
    return int(offset)


def csrf_for(session: str) -> str:
    return hmac.new(_SECRET, session.encode(), hashlib.sha256).hexdigest()[:32]


_ENDPOINTS = {"PinResource": "v3_get_pin", "BaseSearchResource": "v3_search_pins"}


def _envelope(
    data: Any,
    options: dict[str, Any],
    *,
    status: int = 200,
    error: str | None = None,
    resource: str = "PinResource",
    bookmark: str | None = None,
) -> dict:
    endpoint = _ENDPOINTS[resource]
    response: dict[str, Any] = {
        "status": "success" if error is None else "failure",
        "code": 0 if error is None else (40 if status == 404 else status),
        "message": "ok" if error is None else error,
        "endpoint_name": endpoint,
        "data": data,
        "x_pinterest_sli_endpoint_name": endpoint,
        "http_status": status,
    }
    if bookmark is not None:
        response["bookmark"] = bookmark
    if error is not None:
        response["error"] = {
            "http_status": status,
            "code": response["code"],
            "message": error,
            "status": "failure",
        }
    return {
        "resource_response": response,
        "client_context": {
            "app_version": APP_VERSION,
            "is_authenticated": False,
            "request_host": "www.pinterest.com",
        },
        "resource": {"name": resource, "options": options},
        "request_identifier": str(secrets.randbits(52)),
    }


def _home_page(session_token: str) -> str:
    pws = {
        "appVersion": APP_VERSION,
        "context": {"is_authenticated": False, "request_host": "www.pinterest.com"},
        "initialHandlerId": "www/index.js",
        "site": "www",
    }
    token = csrf_for(session_token)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charSet="utf-8"/><title>Pinterest</title>'
        # what a browser should not spend time on: blocked by PLAYWRIGHT_ABORT_REQUEST
        '<link rel="stylesheet" href="https://s.pinimg.com/webapp/style.css"/>'
        f'<script id="__PWS_DATA__" type="application/json">{json.dumps(pws)}</script>'
        "<script>(function(){"
        f'var t="{token}";'
        'document.cookie="csrftoken="+t+"; path=/; secure; samesite=lax";'
        'document.documentElement.setAttribute("data-ready","1");'
        "})();</script>"
        '</head><body><div id="__PWS_ROOT__">Pinterest'
        f'<img src="{image_url("236x", 1)}" alt="logo"/></div></body></html>'
    )


def _new_session() -> str:
    """A session token that carries its creation time (ms, hex), so sessions can expire."""
    return f"{int(time.time() * 1000):x}.{secrets.token_hex(16)}"


class PinterestSite:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def _expired(self, session: str | None) -> bool:
        ttl = self.sandbox.knobs.session_ttl_s
        if not ttl or not session:
            return False
        try:
            created = int(session.split(".", 1)[0], 16) / 1000
        except ValueError:
            return True
        return time.time() - created > ttl

    async def home(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        session = request.cookies.get("_pinterest_sess")
        if not session or self._expired(session):
            session = _new_session()
        response = web.Response(text=_home_page(session), content_type="text/html")
        response.set_cookie(
            "_pinterest_sess",
            session,
            path="/",
            httponly=True,
            secure=True,
            samesite="None",
        )
        response.set_cookie("_auth", "0", path="/", secure=True)
        return response

    def _refuse_without_session(
        self, request: web.Request, options: dict[str, Any], resource: str
    ) -> web.Response | None:
        session = request.cookies.get("_pinterest_sess")
        token = request.cookies.get("csrftoken")
        valid = session and token == csrf_for(session) and request.headers.get("X-CSRFToken") == token
        if not valid or self._expired(session):
            body = _envelope(None, options, status=403, error="CSRF verification failed", resource=resource)
            return web.json_response(body, status=403)
        return None

    async def _json(self, request: web.Request, envelope: dict[str, Any], fetched: str) -> web.StreamResponse:
        cut = self.sandbox.cut(request)
        if cut is None:
            self.sandbox.record_fetch(fetched)
        body = json.dumps(envelope).encode()
        return await self.sandbox.body(request, body, cut, content_type="application/json", charset="utf-8")

    async def pin_resource(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        knobs = self.sandbox.knobs
        try:
            options = json.loads(request.query.get("data", ""))["options"]
            pin_id = int(str(options["id"]))
        except (ValueError, KeyError, TypeError):
            return web.json_response(
                _envelope(None, {}, status=400, error="Invalid resource request"),
                status=400,
            )
        refused = self._refuse_without_session(request, options, "PinResource")
        if refused is not None:
            return refused
        if is_missing(knobs.seed, pin_id, knobs.missing_rate):
            return web.json_response(_envelope(None, options, status=404, error="Pin not found."), status=404)
        return await self._json(request, _envelope(make_pin(knobs.seed, pin_id), options), f"pin:{pin_id}")

    async def search(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        """BaseSearchResource: 25 results a page; `bookmark` leads on, `-end-` after the last."""
        knobs = self.sandbox.knobs
        resource = "BaseSearchResource"
        try:
            options = json.loads(request.query.get("data", ""))["options"]
            query = str(options["query"]).strip()
            bookmarks = options.get("bookmarks") or []
            offset = _bookmark_offset(bookmarks[0], query) if bookmarks else 0
        except (ValueError, KeyError, TypeError, IndexError):
            body = _envelope(None, {}, status=400, error="Invalid resource request", resource=resource)
            return web.json_response(body, status=400)
        refused = self._refuse_without_session(request, options, resource)
        if refused is not None:
            return refused
        total = knobs.search_results
        end = min(offset + SEARCH_PAGE_SIZE, total)
        results = [search_result(knobs.seed, search_pin_id(knobs.seed, query, i)) for i in range(offset, end)]
        bookmark = _bookmark(query, end) if end < total else "-end-"
        data = {"results": results, "nag": {}, "should_append_global_search": False, "sensitivity": {}}
        envelope = _envelope(data, options, resource=resource, bookmark=bookmark)
        return await self._json(request, envelope, f"search:{query}:{offset}")

    async def image(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        knobs = self.sandbox.knobs
        folder, sig = match.group("folder"), match.group("sig")
        pin_id = pin_id_from_signature(sig)
        if pin_id is None or is_missing(knobs.seed, pin_id, knobs.missing_rate):
            return web.Response(status=404, text="Not Found")
        if folder == "originals" and _fraction(knobs.seed, "orig403", pin_id) < knobs.orig_forbidden_rate:
            return web.Response(
                status=403, text="<Error><Code>AccessDenied</Code></Error>", content_type="application/xml"
            )
        width, height = pin_dims(knobs.seed, pin_id)
        if folder != "originals":
            box = int(folder.rstrip("x"))
            width, height = min(box, width), height * min(box, width) // width
        color = int(_fraction(knobs.seed, "colour", pin_id) * len(_PALETTE))
        body = _with_comment(_jpeg(width, height, color), f"pin:{pin_id}".encode())
        self.sandbox.record_fetch(f"image:{folder}:{pin_id}")
        return web.Response(
            body=body,
            content_type="image/jpeg",
            headers={"Cache-Control": "max-age=31536000"},
        )


_PALETTE = (
    (200, 80, 60),
    (60, 140, 200),
    (90, 170, 90),
    (230, 200, 80),
    (150, 90, 180),
    (40, 40, 40),
    (240, 240, 235),
    (250, 150, 170),
)


@lru_cache(maxsize=256)
def _jpeg(width: int, height: int, color: int) -> bytes:
    """A solid JPEG of the given size; few distinct (size, colour) pairs, so this is cached."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), _PALETTE[color]).save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _with_comment(jpeg: bytes, comment: bytes) -> bytes:
    """Insert a JPEG COM segment after SOI so every pin's file is distinct but still valid."""
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return jpeg[:2] + segment + jpeg[2:]


def register(sandbox: Sandbox) -> None:
    site = PinterestSite(sandbox)
    sandbox.add_site(
        HOSTS,
        [
            Route("GET", re.compile(r"/"), site.home, "/"),
            Route(
                "GET",
                re.compile(r"/resource/BaseSearchResource/get/?"),
                site.search,
                "/resource/BaseSearchResource/get/",
            ),
            Route(
                "GET",
                re.compile(r"/resource/PinResource/get/?"),
                site.pin_resource,
                "/resource/PinResource/get/",
            ),
        ],
    )
    sandbox.add_site(
        IMAGE_HOSTS,
        [
            Route(
                "GET",
                re.compile(
                    r"/(?P<folder>originals|236x|474x|564x|736x)/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{2}/"
                    r"(?P<sig>[0-9a-f]{32})\.jpg"
                ),
                site.image,
                "/{size}/*.jpg",
            )
        ],
    )
