"""The sources of `links`, one module each: its request builders and its pure parsers, in one
place. `classify(url)` says which source a link belongs to, from the URL alone (no network)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

YOUTUBE, YOUTUBE_COMMENTS, BILIBILI, REDDIT, ARTICLE = (
    "youtube",
    "youtube_comments",
    "bilibili",
    "reddit",
    "article",
)
KINDS = (YOUTUBE, YOUTUBE_COMMENTS, BILIBILI, REDDIT, ARTICLE)

_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_HOSTS = {"youtube.com", "m.youtube.com", "music.youtube.com", "youtube-nocookie.com"}
_YOUTUBE_PATHS = re.compile(r"/(?:shorts|live|embed|v)/([A-Za-z0-9_-]{11})(?:[/?#]|$)")
_BILIBILI_VIDEO = re.compile(r"/video/(BV[0-9A-Za-z]{10})(?:[/?#]|$)")
_REDDIT_HOSTS = {"reddit.com", "old.reddit.com", "new.reddit.com", "np.reddit.com", "m.reddit.com"}
_REDDIT_THREAD = re.compile(r"^(?:/r/[^/]+)?/comments/([a-z0-9]+)(?:/|$)")


@dataclass(frozen=True)
class Link:
    """What a URL is: its source (`kind`), and the source's id for it when the URL says it
    (`None` for a short link, which only its redirect tells, and for articles)."""

    kind: str
    id: str | None = None


@dataclass(frozen=True)
class Refused:
    """The site's own answer that this link cannot be had (private, removed, hidden): the task
    fails with `reason`, and is never tried again blindly."""

    reason: str


@dataclass(frozen=True)
class SlowDown:
    """The site asks to slow down in its own words (a risk-control code, not a 429): the site's
    slot slows like after a 429 and the task is tried again."""

    reason: str


def _bilibili_risk_control(status: int, body: bytes) -> str | None:
    from crawler.sites import bilibili

    return bilibili.risk_control(status, body)


# a request's meta `slow_down_check` -> (status, body) -> the site's words asking to slow
# down, or None (crawler/middlewares/throttle.py treats them as a 429)
SLOW_DOWN_CHECKS: dict[str, Callable[[int, bytes], str | None]] = {"bilibili": _bilibili_risk_control}


@dataclass(frozen=True)
class Fetch:
    """A request a source wants made next, in plain terms (no Scrapy): the spider makes it."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    cookies: dict[str, str] | None = None
    follow_redirects: bool = True
    # statuses the source reads itself; any other error status fails the task with it
    accept: tuple[int, ...] = (403, 404, 410)
    slow_down_check: str | None = None  # a name in SLOW_DOWN_CHECKS (the throttle's)
    note: dict[str, Any] = field(default_factory=dict)  # given back with the answer


@dataclass(frozen=True)
class Answer:
    """What came back for a Fetch: `text` is the body decoded with the charset the answer
    declares (header, BOM, meta tag), or None for a body that is not text."""

    url: str
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    text: str | None
    note: dict[str, Any]


@dataclass
class Step:
    """A source's answer to an Answer: the items it yields, then either the next Fetch, or the
    task's end with `result` (a "kind:id" reference to what was stored)."""

    items: list[Any] = field(default_factory=list)
    next: Fetch | None = None
    result: str | None = None


@dataclass(frozen=True)
class Options:
    """What a batch's run asks of every source."""

    max_comments: int = 1000
    sort: str = "top"


class LinkFailed(Exception):
    """A task ends failed with `reason`; `final` False leaves it to a later run (risk control
    that outlasted the throttle's retries), True is the site's or the link's last word."""

    def __init__(self, reason: str, *, final: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.final = final


class Flow(Protocol):
    """A source's requests for one link, as a state machine: `start` gives the first Fetch,
    `step` reads each Answer (raising LinkFailed or MalformedResponse when the link fails).
    `state` is the task's own dict, kept between steps."""

    def start(self, link: Link, url: str, state: dict[str, Any]) -> Fetch: ...

    def step(self, answer: Answer, state: dict[str, Any]) -> Step: ...


def flow_for(kind: str, options: Options) -> Flow:
    """The flow of a source (the registry from classify()'s kinds to the sources' modules)."""
    from crawler.sites import articles, bilibili, reddit, youtube, youtube_comments

    flows: dict[str, Callable[[Options], Flow]] = {
        YOUTUBE: youtube.VideoFlow,
        YOUTUBE_COMMENTS: youtube_comments.CommentsFlow,
        BILIBILI: bilibili.VideoFlow,
        REDDIT: reddit.ThreadFlow,
        ARTICLE: articles.ArticleFlow,
    }
    return flows[kind](options)


def refuse_http(answer: Answer, site: str) -> None:
    """A 403/404/410 is the site's last word on the link, in its own words when it gives them
    (a JSON `reason` or `message`)."""
    if answer.status < 400:
        return
    said = ""
    try:
        body = json.loads(answer.body)
        if isinstance(body, dict):
            said = " ".join(str(body[k]) for k in ("reason", "message") if body.get(k))
    except ValueError:
        pass
    raise LinkFailed(f"{site} HTTP {answer.status}{': ' + said if said else ''} ({answer.url})")


class NotALink(ValueError):
    """A URL `links` does not fetch: the message says why, naming it."""


def classify(url: str, kind: str | None = None) -> Link:
    """The source of `url`. `kind`, when the batch gives one, is checked against the URL
    (`youtube_comments` asks for a YouTube video's comments). Raises NotALink."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise NotALink(f"{url!r}: only http and https links are fetched, not {parts.scheme or 'no scheme'!r}")
    host = (parts.hostname or "").lower().removeprefix("www.")
    if not host:
        raise NotALink(f"{url!r}: no host")
    found = (
        _youtube(host, parts.path, parts.query) or _bilibili(host, parts.path) or _reddit(host, parts.path)
    )
    link = found or Link(ARTICLE)
    if kind is None or kind == link.kind:
        return link
    if kind == YOUTUBE_COMMENTS and link.kind == YOUTUBE:
        return Link(YOUTUBE_COMMENTS, link.id)
    if kind == ARTICLE:
        return Link(ARTICLE)  # any page can be read as an article
    if kind not in KINDS:
        raise NotALink(f"{url!r}: unknown type {kind!r} (one of {', '.join(KINDS)})")
    raise NotALink(f"{url!r}: not a {kind} link")


def _youtube(host: str, path: str, query: str) -> Link | None:
    if host == "youtu.be":
        video = path.strip("/").split("/")[0]
        return Link(YOUTUBE, video) if _VIDEO_ID.fullmatch(video) else None
    if host not in _YOUTUBE_HOSTS:
        return None
    if path.rstrip("/") == "/watch":
        video = parse_qs(query).get("v", [""])[0]
        return Link(YOUTUBE, video) if _VIDEO_ID.fullmatch(video) else None
    match = _YOUTUBE_PATHS.match(path)
    return Link(YOUTUBE, match.group(1)) if match else None


def _bilibili(host: str, path: str) -> Link | None:
    if host == "b23.tv":
        return Link(BILIBILI)  # a short link: its redirect names the video
    if host in ("bilibili.com", "m.bilibili.com"):
        match = _BILIBILI_VIDEO.match(path)
        return Link(BILIBILI, match.group(1)) if match else None
    return None


def _reddit(host: str, path: str) -> Link | None:
    if host == "redd.it":
        thread = path.strip("/").split("/")[0].lower()
        return Link(REDDIT, thread) if re.fullmatch(r"[a-z0-9]+", thread) else None
    if host in _REDDIT_HOSTS:
        match = _REDDIT_THREAD.match(path)
        return Link(REDDIT, match.group(1)) if match else None
    return None
