"""Reddit, as `links` sees it: a thread's `.json`, `/api/morechildren`, continued threads.

- ``GET /comments/ID/.json`` (or ``/r/SUB/comments/ID/SLUG/.json``): two Listings, the post
  then the comment tree. Each comment shows at most 5 replies (20 top-level comments): the rest
  are a ``more`` stub listing their ids; a comment at depth 8 with replies has a "continue this
  thread" stub (``id: "_"``, count 0) instead.
- ``GET /comments/ID/_/COMMENT/.json``: the thread again, the tree rooted at that comment.
- ``GET /api/morechildren.json?link_id=t3_ID&children=a,b,...``: those comments and what is under
  them, flat (each with its ``depth`` and ``parent_id``), at most 100 ids a call.
- ``redd.it/ID``: 301 to the thread.
Every answer carries ``X-Ratelimit-Used``, ``-Remaining`` and ``-Reset``; past ``--reddit-quota``
requests in a ``--reddit-window-s`` window, 429. A client with no User-Agent of its own (empty,
Scrapy's or python-requests' default) gets 429 at once, as Reddit answers it.

Any base-36 id is a thread. Reserved prefixes: ``deep`` (400 comments, 14 levels: every kind of
stub), ``removed`` (the post removed by a moderator), ``gone`` (404), ``private`` (403, a
private community).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aiohttp import web

from . import stable
from .server import Route, Sandbox

HOSTS = ("www.reddit.com", "reddit.com", "old.reddit.com")
SHOWN_TOP, SHOWN_REPLIES, CONTINUE_DEPTH, MORE_PER_CALL = 20, 5, 8, 100
_DEFAULT_AGENTS = ("scrapy", "python-requests", "python-urllib", "curl/")


@dataclass(frozen=True)
class Comment:
    id: str
    parent: str | None  # the comment it answers; None: the post
    depth: int
    children: tuple[str, ...]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, d = divmod(n, 36)
        out = digits[d] + out
        if n == 0:
            return out


@lru_cache(maxsize=4096)
def tree(seed: int, thread_id: str) -> dict[str, Comment]:
    """A thread's comments by id, in the order the site ranks them (parents before children)."""
    r = stable.rng(seed, "reddit", thread_id)
    deep = thread_id.startswith("deep")
    count, max_depth = (400, 14) if deep else (r.randrange(0, 40), 5)
    base = int(stable.fraction(seed, "reddit-ids", thread_id) * 36**6)
    made: list[tuple[str, str | None, int]] = []
    for i in range(count):
        parent: tuple[str, str | None, int] | None = None
        if made and r.random() < (0.8 if deep else 0.5):
            parent = made[-1] if deep and r.random() < 0.7 else r.choice(made)
            if parent[2] + 1 > max_depth:
                parent = None
        made.append((_base36(base + i), parent[0] if parent else None, parent[2] + 1 if parent else 0))
    children: dict[str | None, list[str]] = {}
    for cid, parent_id, _ in made:
        children.setdefault(parent_id, []).append(cid)
    ordered: dict[str, Comment] = {}

    def add(cid: str, parent_id: str | None, depth: int) -> None:
        ordered[cid] = Comment(cid, parent_id, depth, tuple(children.get(cid, ())))
        for child in children.get(cid, ()):
            add(child, cid, depth + 1)

    for top in children.get(None, ()):
        add(top, None, 0)
    return ordered


class RedditSite:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.window_start = time.monotonic()
        self.used = 0

    @property
    def seed(self) -> int:
        return self.sandbox.knobs.seed

    def _limits(self, request: web.Request) -> tuple[dict[str, str], web.Response | None]:
        knobs = self.sandbox.knobs
        now = time.monotonic()
        if now - self.window_start >= knobs.reddit_window_s:
            self.window_start, self.used = now, 0
        self.used += 1
        quota = knobs.reddit_quota or 1_000_000  # no limit set: headers that never ask to slow down
        headers = {
            "X-Ratelimit-Used": str(self.used),
            "X-Ratelimit-Remaining": f"{max(0, quota - self.used):.1f}",
            "X-Ratelimit-Reset": str(max(0, int(self.window_start + knobs.reddit_window_s - now))),
        }
        agent = request.headers.get("User-Agent", "").lower()
        limited = knobs.reddit_quota and self.used > knobs.reddit_quota
        if not agent or any(default in agent for default in _DEFAULT_AGENTS) or limited:
            body = {"message": "Too Many Requests", "error": 429}
            return headers, web.json_response(body, status=429, headers=headers)
        return headers, None

    async def thread(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        headers, refused = self._limits(request)
        if refused is not None:
            return refused
        thread_id, comment_id = match["id"], match.groupdict().get("comment")
        if thread_id.startswith("gone"):
            return web.json_response({"message": "Not Found", "error": 404}, status=404, headers=headers)
        if thread_id.startswith("private"):
            body = {"reason": "private", "message": "Forbidden", "error": 403}
            return web.json_response(body, status=403, headers=headers)
        comments = tree(self.seed, thread_id)
        if comment_id is not None:
            if comment_id not in comments:
                return web.json_response({"message": "Not Found", "error": 404}, status=404, headers=headers)
            self.sandbox.record_fetch(f"reddit-continued:{thread_id}:{comment_id}")
            top = [self._render(thread_id, comments, comment_id, 0)]
        else:
            self.sandbox.record_fetch(f"reddit:{thread_id}")
            roots = [c.id for c in comments.values() if c.parent is None]
            top = [self._render(thread_id, comments, cid, 0) for cid in roots[:SHOWN_TOP]]
            if roots[SHOWN_TOP:]:
                top.append(self._more(thread_id, comments, roots[SHOWN_TOP:], None, 0))
        listings = [_listing([{"kind": "t3", "data": self._post(thread_id, comments)}]), _listing(top)]
        return web.json_response(listings, headers=headers)

    async def more(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        headers, refused = self._limits(request)
        if refused is not None:
            return refused
        link = request.query.get("link_id", "")
        wanted = [c for c in request.query.get("children", "").split(",") if c]
        if not link.startswith("t3_") or not wanted:
            return web.json_response(
                {"json": {"errors": [["BAD_REQUEST", "bad request", "link_id"]]}}, headers=headers
            )
        if len(wanted) > MORE_PER_CALL:
            errors = [["TOO_MANY_CHILDREN", "too many children", "children"]]
            return web.json_response({"json": {"errors": errors}}, headers=headers)
        thread_id = link[3:]
        comments = tree(self.seed, thread_id)
        self.sandbox.record_fetch(f"reddit-more:{thread_id}:{','.join(sorted(wanted))}")
        things: list[dict[str, Any]] = []
        for cid in wanted:
            if cid in comments:
                self._flat(thread_id, comments, cid, things)
        return web.json_response({"json": {"errors": [], "data": {"things": things}}}, headers=headers)

    async def short(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(f"https://www.reddit.com/comments/{match['id']}/")

    def _post(self, thread_id: str, comments: dict[str, Comment]) -> dict[str, Any]:
        r = stable.rng(self.seed, "reddit-post", thread_id)
        sub = r.choice(("AskHistorians", "travel", "Cooking", "programming", "europe"))
        slug = "_".join(stable.words(r, 4).split())
        removed = thread_id.startswith("removed")
        return {
            "id": thread_id,
            "name": f"t3_{thread_id}",
            "subreddit": sub,
            "title": stable.sentence(r, 8)[:-1].replace("city", "city & town"),
            "author": "[deleted]" if removed else f"{r.choice(stable.NAMES).lower()}_{r.randrange(10, 99)}",
            "selftext": "[removed]" if removed else "\n\n".join(stable.sentence(r) for _ in range(2)),
            "removed_by_category": "moderator" if removed else None,
            "url": f"https://www.reddit.com/r/{sub}/comments/{thread_id}/{slug}/",
            "permalink": f"/r/{sub}/comments/{thread_id}/{slug}/",
            "score": r.randrange(1, 20_000),
            "num_comments": len(comments),
            "created_utc": float(1_600_000_000 + r.randrange(100_000_000)),
            "over_18": False,
            "locked": r.random() < 0.05,
        }

    def _data(self, thread_id: str, comments: dict[str, Comment], cid: str, depth: int) -> dict[str, Any]:
        comment = comments[cid]
        r = stable.rng(self.seed, "reddit-comment", f"{thread_id}:{cid}")
        gone = r.random()
        body = (
            "[deleted]"
            if gone < 0.04
            else "[removed]"
            if gone < 0.07
            else stable.sentence(r, r.randrange(3, 30))
        )
        return {
            "id": cid,
            "name": f"t1_{cid}",
            "parent_id": f"t1_{comment.parent}" if comment.parent else f"t3_{thread_id}",
            "link_id": f"t3_{thread_id}",
            "author": "[deleted]" if gone < 0.07 else f"{r.choice(stable.NAMES).lower()}{r.randrange(100)}",
            "body": body,
            "score": r.randrange(-5, 500),
            "created_utc": float(1_600_000_000 + r.randrange(100_000_000)),
            "stickied": comment.parent is None and r.random() < 0.02,
            "edited": False if r.random() < 0.9 else float(1_700_000_000),
            "depth": depth,
            "replies": "",
        }

    def _render(self, thread_id: str, comments: dict[str, Comment], cid: str, depth: int) -> dict[str, Any]:
        data = self._data(thread_id, comments, cid, depth)
        children = comments[cid].children
        if children and depth + 1 >= CONTINUE_DEPTH:
            data["replies"] = _listing([_continue(cid, depth + 1)])
        elif children:
            shown = [self._render(thread_id, comments, c, depth + 1) for c in children[:SHOWN_REPLIES]]
            if children[SHOWN_REPLIES:]:
                shown.append(self._more(thread_id, comments, list(children[SHOWN_REPLIES:]), cid, depth + 1))
            data["replies"] = _listing(shown)
        return {"kind": "t1", "data": data}

    def _more(
        self, thread_id: str, comments: dict[str, Comment], ids: list[str], parent: str | None, depth: int
    ) -> dict[str, Any]:
        under = sum(_size(comments, c) for c in ids)
        return {
            "kind": "more",
            "data": {
                "count": under,
                "name": f"t1_{ids[0]}",
                "id": ids[0],
                "parent_id": f"t1_{parent}" if parent else f"t3_{thread_id}",
                "depth": depth,
                "children": ids,
            },
        }

    def _flat(
        self, thread_id: str, comments: dict[str, Comment], cid: str, things: list[dict[str, Any]]
    ) -> None:
        depth = comments[cid].depth
        data = self._data(thread_id, comments, cid, depth)
        things.append({"kind": "t1", "data": data})
        if comments[cid].children and depth + 1 >= CONTINUE_DEPTH:
            things.append(_continue(cid, depth + 1))
            return
        for child in comments[cid].children:
            self._flat(thread_id, comments, child, things)


def _size(comments: dict[str, Comment], cid: str) -> int:
    return 1 + sum(_size(comments, c) for c in comments[cid].children)


def _continue(parent: str, depth: int) -> dict[str, Any]:
    return {
        "kind": "more",
        "data": {
            "count": 0,
            "name": "t1__",
            "id": "_",
            "parent_id": f"t1_{parent}",
            "depth": depth,
            "children": [],
        },
    }


def _listing(children: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": None, "before": None, "dist": None, "children": children}}


def register(sandbox: Sandbox) -> None:
    site = RedditSite(sandbox)
    thread = r"(?:/r/[A-Za-z0-9_]+)?/comments/(?P<id>[a-z0-9]+)"
    sandbox.add_site(
        HOSTS,
        [
            Route("GET", re.compile(thread + r"(?:/[^/]*)?/\.json"), site.thread, "/comments/ID/.json"),
            Route(
                "GET",
                re.compile(thread + r"/[^/]+/(?P<comment>[a-z0-9]+)/\.json"),
                site.thread,
                "/comments/ID/_/COMMENT/.json",
            ),
            Route("GET", re.compile(r"/api/morechildren(?:\.json)?"), site.more, "/api/morechildren"),
        ],
        name="reddit",
    )
    sandbox.add_site(
        ("redd.it",), [Route("GET", re.compile(r"/(?P<id>[a-z0-9]+)/?"), site.short, "/ID")], name="reddit"
    )
