"""Pinterest: pin ids, the PinResource API envelope, and the session a home page sets up."""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlsplit

from crawler.items import PinDetails, PinRefusal, SearchHit
from crawler.parsers import MalformedResponse

_DIGITS = re.compile(r"\d{1,20}")
_PIN_PATH = re.compile(r"/pin/(?:[^/]*--)?(\d{1,20})/?")
_NODE_ID = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")


class _NotBase64(ValueError):
    pass


_URLSAFE = str.maketrans("-_", "+/")


def decode_node_id(node_id: str) -> str:
    """`UGluOjEyMzQ1` ("Pin:12345") -> "12345". Raises ValueError when it is not a pin's node id."""
    # a million of these per `scrapy pindb convert`: binascii directly, no regex (2x faster)
    padded = node_id + "=" * (-len(node_id) % 4)
    if "-" in padded or "_" in padded:
        padded = padded.translate(_URLSAFE)
    try:
        text = binascii.a2b_base64(padded, strict_mode=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _NotBase64(f"{node_id!r} is not base64") from None
    kind, sep, number = text.partition(":")
    if (
        not sep
        or kind.lower() != "pin"
        or not (0 < len(number) <= 20 and number.isascii() and number.isdigit())
    ):
        raise ValueError(f"{node_id!r} decodes to {text!r}, not 'Pin:<digits>'")
    return number


def parse_pin_ref(text: str) -> str:
    """One line of an ids file -> the numeric pin id.

    Accepts a numeric id, a pin URL (`https://www.pinterest.com/pin/123/`, any country domain,
    with or without a slug) or a base64 node id. Raises ValueError saying what is wrong.
    """
    ref = text.strip()
    if _DIGITS.fullmatch(ref):
        return ref
    if "/" in ref:
        parts = urlsplit(ref if "//" in ref else f"https://{ref}")
        host = (parts.hostname or "").lower()
        match = _PIN_PATH.search(parts.path)
        if (
            not (
                host == "pinterest.com"
                or host.startswith("pinterest.")
                or ".pinterest." in host
                or host.endswith(".pinterest.com")
            )
            or match is None
        ):
            raise ValueError(f"{ref!r} is not a Pinterest pin URL")
        return match.group(1)
    generic = f"{ref!r} is not a pin id (expected digits, a pin URL or a base64 node id)"
    if _NODE_ID.fullmatch(ref):
        try:
            return decode_node_id(ref)
        except _NotBase64:
            raise ValueError(generic) from None
    raise ValueError(generic)


def pin_resource_url(base_url: str, pin_id: str) -> str:
    """The URL the web app calls for one pin's details."""
    data = json.dumps(
        {"options": {"id": pin_id, "field_set_key": "detailed"}, "context": {}},
        separators=(",", ":"),
    )
    return (
        f"{base_url}/resource/PinResource/get/?source_url={quote(f'/pin/{pin_id}/', safe='')}"
        f"&data={quote(data, safe='')}"
    )


def parse_pin_resource(
    body: bytes | str,
    pin_id: str,
    *,
    keyword: str | None = None,
    now: datetime | None = None,
) -> PinDetails | PinRefusal:
    """A PinResource answer (any HTTP status) -> the pin's details, or the API's refusal.

    Raises MalformedResponse when the body is not a resource envelope (truncated, HTML error page...).
    """
    now = now or datetime.now(UTC)
    try:
        envelope = json.loads(body)
        response = envelope["resource_response"]
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedResponse(f"pin {pin_id}: body is not a resource_response envelope ({exc})") from None
    if not isinstance(response, dict):
        raise MalformedResponse(f"pin {pin_id}: resource_response is {type(response).__name__}")
    if response.get("status") != "success":
        message = str(response.get("message") or (response.get("error") or {}).get("message") or "failure")
        return PinRefusal(
            id=pin_id,
            status=_refusal_status(response.get("http_status"), response.get("code")),
            error=f"{response.get('code')}: {message}",
            keyword=keyword,
        )
    data = response.get("data")
    if not isinstance(data, dict) or str(data.get("id")) != pin_id:
        got = data.get("id") if isinstance(data, dict) else type(data).__name__
        raise MalformedResponse(f"pin {pin_id}: data is for {got!r}")
    return pin_details_from_data(data, keyword=keyword, now=now)


def pin_details_from_data(
    data: dict[str, Any], *, keyword: str | None = None, now: datetime | None = None
) -> PinDetails:
    """A REST pin object (PinResource `data` or a search result) -> PinDetails."""
    image = largest_image(data.get("images") or {})
    board = data.get("board") or {}
    pinner = data.get("pinner") or {}
    stats = (data.get("aggregated_pin_data") or {}).get("aggregated_stats") or {}
    saves = stats.get("saves")
    return PinDetails(
        id=str(data["id"]),
        title=_text(data.get("title")) or _text(data.get("grid_title")),
        description=_text(data.get("description")),
        link=_text(data.get("link")),
        image_url=image.get("url"),
        image_width=image.get("width"),
        image_height=image.get("height"),
        board_name=_text(board.get("name")),
        pinner_username=_text(pinner.get("username")),
        saves=int(saves) if isinstance(saves, int | str) and str(saves).isdigit() else None,
        created_at=parse_created_at(data.get("created_at")),
        details_fetched_at=now or datetime.now(UTC),
        keyword=keyword,
    )


def largest_image(images: dict[str, Any]) -> dict[str, Any]:
    """`orig` when present, else the widest variant."""
    if isinstance(images.get("orig"), dict) and images["orig"].get("url"):
        return images["orig"]
    variants = [v for v in images.values() if isinstance(v, dict) and v.get("url")]
    return max(variants, key=lambda v: v.get("width") or 0, default={})


def parse_created_at(value: Any) -> datetime | None:
    """`Sun, 04 Apr 2021 05:43:58 +0000` -> aware UTC datetime; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _refusal_status(http_status: Any, code: Any) -> str:
    return {404: "not_found", 403: "forbidden", 401: "unauthorized", 410: "gone"}.get(
        http_status if isinstance(http_status, int) else -1, f"failure_{code}"
    )


# --- the session a home page sets up -------------------------------------------------------

_PWS_DATA = re.compile(r'<script[^>]*id="__PWS_DATA__"[^>]*>(.*?)</script>', re.S)
_JS_CSRF = re.compile(r'csrftoken=["\']?\s*\+?\s*(?:(\w+)|["\']([0-9A-Za-z]+))')
_JS_VAR = r'var\s+{name}\s*=\s*["\']([0-9A-Za-z]+)["\']'


@dataclass
class PinterestSession:
    """What every API request needs: the cookies and headers of a warmed-up web session."""

    cookies: dict[str, str] = field(default_factory=dict)
    app_version: str | None = None
    user_agent: str | None = None
    source: str = "browser"  # or "http" when no browser could start

    @property
    def csrftoken(self) -> str | None:
        return self.cookies.get("csrftoken")

    def headers(self) -> dict[str, str]:
        if not self.csrftoken:
            raise ValueError("session has no csrftoken cookie")
        headers = {
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
            "X-CSRFToken": self.csrftoken,
            "X-Requested-With": "XMLHttpRequest",
            "X-Pinterest-PWS-Handler": "www/[username]/[slug].js",
            "Accept": "application/json, text/javascript, */*, q=0.01",
        }
        if self.app_version:
            headers["X-APP-VERSION"] = self.app_version
        if self.user_agent:
            headers["User-Agent"] = self.user_agent
        return headers


def app_version_from_html(html: str) -> str | None:
    match = _PWS_DATA.search(html)
    if not match:
        return None
    try:
        version = json.loads(match.group(1)).get("appVersion")
    except (ValueError, AttributeError):
        return None
    return version if isinstance(version, str) else None


def session_from_http(html: str, set_cookies: dict[str, str]) -> PinterestSession:
    """Without a browser: cookies from the `Set-Cookie` headers plus the `csrftoken` that the
    home page's inline script would set with `document.cookie`."""
    cookies = dict(set_cookies)
    if "csrftoken" not in cookies:
        match = _JS_CSRF.search(html)
        if match and match.group(1):  # `"csrftoken="+t`: the value is in a variable
            var = re.search(_JS_VAR.format(name=re.escape(match.group(1))), html)
            token = var.group(1) if var else None
        else:
            token = match.group(2) if match else None
        if token:
            cookies["csrftoken"] = token
    return PinterestSession(cookies=cookies, app_version=app_version_from_html(html), source="http")


def parse_ids_lines(lines: Iterable[str]) -> Iterator[tuple[int, str | None, str | None]]:
    """Lines of an ids file -> (line number, pin id, None) or (line number, None, what is wrong).

    Blank lines and lines starting with `#` are skipped.
    """
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            yield number, parse_pin_ref(text), None
        except ValueError as exc:
            yield number, None, str(exc)


# --- search --------------------------------------------------------------------------------

SEARCH_END = "-end-"


@dataclass
class SearchPage:
    hits: list[SearchHit]
    bookmark: str | None  # None after the last page


def search_url(base_url: str, keyword: str, bookmark: str | None = None) -> str:
    """The URL the web app calls for a page of pin search results."""
    source_url = f"/search/pins/?q={quote(keyword, safe='')}&rs=typed"
    options: dict[str, Any] = {
        "query": keyword,
        "scope": "pins",
        "rs": "typed",
        "source_url": source_url,
        "redux_normalize_feed": True,
    }
    if bookmark:
        options["bookmarks"] = [bookmark]
    data = json.dumps({"options": options, "context": {}}, separators=(",", ":"))
    return (
        f"{base_url}/resource/BaseSearchResource/get/?source_url={quote(source_url, safe='')}"
        f"&data={quote(data, safe='')}"
    )


def parse_search_page(body: bytes | str, keyword: str) -> SearchPage:
    """A BaseSearchResource answer -> the pins it lists and the bookmark of the next page.

    Accepts the JSON body or a recorded `const obj = {...}` assignment. Raises MalformedResponse.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    start = text.find("{")
    try:
        if start < 0:
            raise ValueError("no JSON object")
        envelope, _ = json.JSONDecoder().raw_decode(text[start:])
        response = envelope["resource_response"]
        results = response["data"]["results"]
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedResponse(f"search {keyword!r}: not a search envelope ({exc})") from None
    if response.get("status") != "success" or not isinstance(results, list):
        raise MalformedResponse(f"search {keyword!r}: {response.get('status')}: {response.get('message')}")
    hits = [
        SearchHit(id=str(r["id"]), keyword=keyword)
        for r in results
        if isinstance(r, dict) and r.get("type", "pin") == "pin" and _DIGITS.fullmatch(str(r.get("id", "")))
    ]
    bookmark = response.get("bookmark")
    if not isinstance(bookmark, str) or not bookmark or bookmark == SEARCH_END:
        bookmark = None
    return SearchPage(hits=hits, bookmark=bookmark)


_ORIGINALS = re.compile(r"^(https?://[^/]+)/originals/")


def fallback_image_url(url: str | None) -> str | None:
    """`.../originals/aa/bb/cc/sig.jpg` -> `.../736x/aa/bb/cc/sig.jpg`, Pinterest's largest resized
    copy, served when the original is refused. None for other URLs."""
    if not url or not _ORIGINALS.match(url):
        return None
    return _ORIGINALS.sub(r"\1/736x/", url, count=1)
