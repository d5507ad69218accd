"""Bilibili videos (`bilibili.com/video/BV...`, `b23.tv/...`): the `x/web-interface/view` API.

Its envelope is `{code, message, data}`. Code 0 is the video. -404 (not found), 62002 (hidden),
62004 (under review) and 62012 (visible to its uploader only) are the site's final word: the
task fails with it. -352 and -412 (and an HTTP 412) are risk control: slow down and try again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urljoin

from crawler.items import BilibiliPart, BilibiliVideo
from crawler.parsers import MalformedResponse
from crawler.sites import (
    BILIBILI,
    Answer,
    Fetch,
    Link,
    LinkFailed,
    NotALink,
    Options,
    Refused,
    SlowDown,
    Step,
    classify,
)

API = "https://api.bilibili.com/x/web-interface/view"
FINAL = {-404: "not found", 62002: "hidden", 62004: "under review", 62012: "visible to its uploader only"}
RISK_CONTROL = {-352, -412}
# the site answers risk control without these, as it does for a page's own player
HEADERS = {"Referer": "https://www.bilibili.com/", "Origin": "https://www.bilibili.com"}


def view_url(bvid: str) -> str:
    return f"{API}?{urlencode({'bvid': bvid})}"


def parse_view(body: bytes | str) -> BilibiliVideo | Refused | SlowDown:
    """The API's answer -> the video, the site's refusal, or its request to slow down."""
    try:
        envelope = json.loads(body)
        code = int(envelope["code"])
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedResponse(f"not a Bilibili API envelope ({exc})") from None
    message = str(envelope.get("message") or "")
    if code == 0:
        return video_from(envelope.get("data"))
    if code in RISK_CONTROL:
        return SlowDown(f"Bilibili risk control {code}: {message}")
    return Refused(f"Bilibili {code}: {FINAL.get(code, message or 'refused')}")


def risk_control(status: int, body: bytes) -> str | None:
    """The API's risk control in its own words (HTTP 412, or code -352/-412), else None."""
    if status == 412:
        return "Bilibili risk control: HTTP 412"
    if status != 200 or b'"code":-' not in body.replace(b" ", b"")[:200]:
        return None
    try:
        envelope = json.loads(body)
        code = int(envelope["code"])
    except (ValueError, TypeError, KeyError):
        return None
    return f"Bilibili risk control {code}: {envelope.get('message') or ''}" if code in RISK_CONTROL else None


def video_from(data: Any) -> BilibiliVideo:
    """The view API's `data` (the same object as a video page's `__INITIAL_STATE__.videoData`)."""
    try:
        stat, owner = data["stat"], data["owner"]
        return BilibiliVideo(
            bvid=str(data["bvid"]),
            aid=int(data["aid"]),
            cid=int(data["cid"]),
            title=str(data["title"]),
            description=str(data.get("desc") or ""),
            owner_name=str(owner["name"]),
            owner_id=int(owner["mid"]),
            published_at=datetime.fromtimestamp(int(data["pubdate"]), UTC),
            duration_s=int(data["duration"]),
            parts=[
                BilibiliPart(
                    int(p["cid"]), int(p["page"]), str(p.get("part") or ""), int(p.get("duration") or 0)
                )
                for p in data.get("pages") or []
            ],
            views=int(stat["view"]),
            danmaku=int(stat["danmaku"]),
            replies=int(stat["reply"]),
            favourites=int(stat["favorite"]),
            coins=int(stat["coin"]),
            shares=int(stat["share"]),
            likes=int(stat["like"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"a Bilibili video without {exc}") from None


_REDIRECTS = (301, 302, 303, 307, 308)


class VideoFlow:
    """A video: a b23.tv short link's redirect first when the link is one, then the view API
    (risk control is the throttle's: the request is asked again, slower, before it gets here)."""

    def __init__(self, options: Options) -> None:
        self.options = options

    def start(self, link: Link, url: str, state: dict[str, Any]) -> Fetch:
        if link.id is None:  # a short link: its redirect names the video
            return Fetch(url, follow_redirects=False, accept=(*_REDIRECTS, 404), note={"step": "short"})
        return _view(link.id)

    def step(self, answer: Answer, state: dict[str, Any]) -> Step:
        if answer.note["step"] == "short":
            location = answer.headers.get("location")
            if answer.status not in _REDIRECTS or not location:
                raise LinkFailed(f"HTTP {answer.status}: the short link {answer.url} leads nowhere")
            target = urljoin(answer.url, location)
            try:
                bvid = classify(target, BILIBILI).id
            except NotALink:
                bvid = None
            if bvid is None:
                raise LinkFailed(f"the short link {answer.url} leads to {target}, not a Bilibili video")
            return Step(next=_view(bvid))
        if answer.status == 412:
            raise LinkFailed("Bilibili risk control (HTTP 412) outlasted the throttle's retries", final=False)
        video = parse_view(answer.body)
        if isinstance(video, SlowDown):
            raise LinkFailed(f"{video.reason}, past the throttle's retries", final=False)
        if isinstance(video, Refused):
            raise LinkFailed(video.reason)
        return Step([video], result=f"bilibili:{video.bvid}")


def _view(bvid: str) -> Fetch:
    return Fetch(
        view_url(bvid), headers=HEADERS, accept=(412,), slow_down_check="bilibili", note={"step": "view"}
    )
