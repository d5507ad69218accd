"""The sources of `links`, one module each: its request builders and its pure parsers, in one
place. `classify(url)` says which source a link belongs to, from the URL alone (no network)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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
