"""Reddit threads (`/r/<sub>/comments/<id>/...`, `redd.it/<id>`): the `.json` endpoint.

A thread's answer is two Listings: the post, then the comment tree, where a `more` object stands
for comments not sent: with ids (expanded through `/api/morechildren`, at most 100 a call), or
with count 0 and id `_` ("continue this thread": the parent comment's own `.json`). `raw_json=1`
keeps `&` as `&` (else `&amp;`), and Reddit wants a User-Agent that says who is asking.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from crawler.items import RedditComment, RedditPost
from crawler.parsers import MalformedResponse
from crawler.sites import Answer, Fetch, Link, Options, Step, refuse_http

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


class ThreadFlow:
    """A thread: its `.json`, then its `more` stubs (100 ids a call) and its "continue this
    thread" stubs, one after the other, up to max_comments. Each comment gets its depth in the
    whole thread: a continued page counts from its own first comment, and an older morechildren
    answer gives none (its parent's and one)."""

    def __init__(self, options: Options) -> None:
        self.options = options

    def start(self, link: Link, url: str, state: dict[str, Any]) -> Fetch:
        state.update(thread=link.id or "", more=deque(), continued=deque(), fetched=0, seen=set(), depths={})
        return _fetch(thread_url(link.id or ""), "thread")

    def step(self, answer: Answer, state: dict[str, Any]) -> Step:
        refuse_http(answer, "Reddit")
        thread_id, kind = state["thread"], answer.note["step"]
        items: list[Any] = []
        offset = 0
        if kind == "thread":
            page = parse_thread(answer.body)
            items.append(page.post)
        elif kind == "more":
            page = parse_more(answer.body, thread_id)
        else:
            page = parse_thread(answer.body)
            offset = state["depths"].get(answer.note.get("root")) or 0
        depths: dict[str, int | None] = state["depths"]
        for comment in page.comments:
            if comment.depth is not None:
                comment.depth += offset
            elif comment.parent_id.startswith("t3_"):
                comment.depth = 0
            else:
                parent = depths.get(comment.parent_id.removeprefix("t1_"))
                comment.depth = parent + 1 if parent is not None else None
            depths.setdefault(comment.id, comment.depth)
            if comment.id in state["seen"] or state["fetched"] >= self.options.max_comments:
                continue
            state["seen"].add(comment.id)
            state["fetched"] += 1
            items.append(comment)
        for ids in page.more:
            for start in range(0, len(ids), MORE_PER_CALL):
                state["more"].append(ids[start : start + MORE_PER_CALL])
        state["continued"].extend(page.continued)
        if state["fetched"] < self.options.max_comments:
            if state["more"]:
                return Step(items, next=_fetch(more_url(thread_id, state["more"].popleft()), "more"))
            if state["continued"]:
                root = state["continued"].popleft()
                return Step(items, next=_fetch(continued_url(thread_id, root), "continued", root=root))
        return Step(items, result=f"reddit:{thread_id}")


def _fetch(url: str, step: str, root: str | None = None) -> Fetch:
    return Fetch(url, headers={"User-Agent": USER_AGENT}, note={"step": step, "root": root})
