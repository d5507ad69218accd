"""Reddit threads (`/r/<sub>/comments/<id>/...`, `redd.it/<id>`): the `.json` endpoint.

A thread's answer is two Listings: the post, then the comment tree, where a `more` object stands
for comments not sent: with ids (expanded through `/api/morechildren`, at most 100 a call), or
with count 0 and id `_` ("continue this thread": the parent comment's own `.json`). `raw_json=1`
keeps `&` as `&` (else `&amp;`), and Reddit wants a User-Agent that says who is asking.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from crawler.items import RedditComment, RedditPost
from crawler.parsers import MalformedResponse

SITE = "https://www.reddit.com"
MORE_PER_CALL = 100
USER_AGENT = "linux:crawler.links:1.0 (a batch link archiver)"
_GONE = ("[deleted]", "[removed]")


@dataclass
class ThreadPage:
    """What one answer held: the post (a thread's first page only), comments, and stubs."""

    post: RedditPost | None = None
    comments: list[RedditComment] = field(default_factory=list)
    more: list[list[str]] = field(default_factory=list)  # comment ids to ask /api/morechildren for
    continued: list[str] = field(default_factory=list)  # comment ids whose replies need their own page


def thread_url(thread_id: str) -> str:
    return f"{SITE}/comments/{thread_id}/.json?raw_json=1&limit=500"


def continued_url(thread_id: str, comment_id: str) -> str:
    return f"{SITE}/comments/{thread_id}/_/{comment_id}/.json?raw_json=1"


def more_url(thread_id: str, children: list[str]) -> str:
    query = {"api_type": "json", "link_id": f"t3_{thread_id}", "children": ",".join(children[:MORE_PER_CALL])}
    return f"{SITE}/api/morechildren.json?{urlencode({**query, 'raw_json': 1})}"


def parse_thread(body: bytes | str) -> ThreadPage:
    """A thread's `.json` (or a continued comment's): the post and the comment tree, flattened."""
    try:
        listings = json.loads(body)
        post_data = listings[0]["data"]["children"][0]["data"]
        children = listings[1]["data"]["children"]
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise MalformedResponse(f"not a Reddit thread listing ({exc})") from None
    page = ThreadPage(post=_post(post_data))
    _walk(children, str(post_data["id"]), 0, page)
    return page


def parse_more(body: bytes | str, thread_id: str) -> ThreadPage:
    """`/api/morechildren`'s answer: comments and stubs, flat, each with its parent."""
    try:
        answer = json.loads(body)["json"]
        if answer.get("errors"):
            raise MalformedResponse(f"morechildren refused: {answer['errors']}")
        things = answer["data"]["things"]
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedResponse(f"not a morechildren answer ({exc})") from None
    page = ThreadPage()
    _walk(things, thread_id, None, page)
    return page


def _walk(children: list[Any], thread_id: str, depth: int | None, page: ThreadPage) -> None:
    """Comments and stubs of `children`, depth first. `depth` None: the answer is flat (a
    morechildren one) and says each comment's depth itself, or does not (older answers)."""
    for child in children:
        kind, data = child.get("kind"), child.get("data") or {}
        if kind == "more":
            if data.get("id") == "_" or not data.get("children"):
                page.continued.append(str(data["parent_id"]).removeprefix("t1_"))
            else:
                page.more.append([str(c) for c in data["children"]])
        elif kind == "t1":
            page.comments.append(_comment(data, thread_id, depth))
            replies = data.get("replies")
            if depth is not None and isinstance(replies, dict):
                _walk(replies["data"]["children"], thread_id, depth + 1, page)


def _post(data: dict[str, Any]) -> RedditPost:
    try:
        author = str(data.get("author") or "")
        return RedditPost(
            id=str(data["id"]),
            subreddit=str(data["subreddit"]),
            title=str(data["title"]),
            author=None if author in _GONE else author,
            text=str(data.get("selftext") or ""),
            url=str(data.get("url") or ""),
            permalink=SITE + str(data.get("permalink") or ""),
            score=int(data.get("score") or 0),
            comment_count=int(data.get("num_comments") or 0),
            created_at=datetime.fromtimestamp(float(data["created_utc"]), UTC),
            over_18=bool(data.get("over_18")),
            locked=bool(data.get("locked")),
            removed=data.get("selftext") == "[removed]" or bool(data.get("removed_by_category")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"a Reddit post without {exc}") from None


def _comment(data: dict[str, Any], thread_id: str, depth: int | None) -> RedditComment:
    try:
        author, body = str(data.get("author") or ""), str(data.get("body") or "")
        return RedditComment(
            id=str(data["id"]),
            thread_id=thread_id,
            parent_id=str(data["parent_id"]),
            author=None if author in _GONE else author,
            body=body,
            score=int(data.get("score") or 0),
            created_at=datetime.fromtimestamp(float(data["created_utc"]), UTC),
            depth=int(data["depth"]) if data.get("depth") is not None else depth,  # None: its parent's + 1
            deleted=body == "[deleted]",
            removed=body == "[removed]",
            stickied=bool(data.get("stickied")),
            edited=bool(data.get("edited")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"a Reddit comment without {exc}") from None
