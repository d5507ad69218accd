"""Writes of what `links` fetches (link_results, link_comments) and of its tasks' ends, for the
one writer pipeline. Blocking: called on the writer thread."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine

from crawler.db import tasks
from crawler.db.engine import upsert_insert
from crawler.db.models import LinkComment, LinkResult
from crawler.db.writers import Route, Row, TableWriter
from crawler.items import (
    Article,
    BilibiliVideo,
    CommentsFetched,
    RedditComment,
    RedditPost,
    TaskEnd,
    YouTubeComment,
    YouTubeVideo,
)


def _json(item: Any) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        raise TypeError(f"{type(value).__name__} is not JSON")

    return json.dumps(asdict(item), default=plain, ensure_ascii=False, separators=(",", ":"))


def _upsert(model: Any, engine: Engine, rows: list[Row]) -> int:
    if not rows:
        return 0
    unique = list({(row["kind"], row["id"]): row for row in rows}.values())  # PostgreSQL: once a statement
    statement = upsert_insert(engine)(model)
    columns = [c for c in unique[0] if c not in ("kind", "id")]
    statement = statement.on_conflict_do_update(
        index_elements=["kind", "id"], set_={c: statement.excluded[c] for c in columns}
    )
    with engine.begin() as conn:
        conn.execute(statement, unique)
    return len(unique)


def upsert_results(engine: Engine, rows: list[Row]) -> int:
    return _upsert(LinkResult, engine, rows)


def upsert_comments(engine: Engine, rows: list[Row]) -> int:
    return _upsert(LinkComment, engine, rows)


def end_tasks(engine: Engine, rows: list[Row]) -> int:
    """Each task's end, by its lease holder only (a task whose lease another run took since is
    left to that run): how many ended. Each row's `on_saved`, when given, hears whether it was."""
    ended = 0
    for row in rows:
        queue = tasks.Queue(row["queue"], row["batch"])
        key, owner, slot = row["key"], row["owner"], row["slot"]
        if row["state"] == tasks.COMPLETED:
            saved = tasks.complete(engine, queue, key, owner, row["result_ref"], slot=slot)
        else:
            saved = tasks.fail(engine, queue, key, owner, row["error"] or "", final=row["final"], slot=slot)
        ended += saved
        if row.get("on_saved") is not None:
            row["on_saved"](saved)
    return ended


RESULTS = TableWriter("link_results", upsert_results, order=10)
COMMENTS = TableWriter("link_comments", upsert_comments, order=10)
TASK_ENDS = TableWriter("tasks", end_tasks, order=100)  # after what the task fetched


def _now() -> datetime:
    return datetime.now(UTC)


def _result(kind: str, pick: Callable[[Any], tuple[str, str | None, str | None]]) -> Route:
    """A link_results route: `pick(item)` gives its (id, url, title)."""

    def row(item: Any) -> Row:
        id_, url, title = pick(item)
        return {
            "kind": kind,
            "id": id_,
            "url": url,
            "title": title,
            "data": _json(item),
            "fetched_at": _now(),
        }

    return Route(RESULTS, row)


def _comment(kind: str, pick: Callable[[Any], tuple[str, str]]) -> Route:
    """A link_comments route: `pick(item)` gives its (thread id, text)."""

    def row(item: Any) -> Row:
        thread_id, text = pick(item)
        return {
            "kind": kind,
            "id": item.id,
            "thread_id": thread_id,
            "parent_id": item.parent_id,
            "author": item.author,
            "text": text,
            "data": _json(item),
            "fetched_at": _now(),
        }

    return Route(COMMENTS, row)


def _task_end(item: TaskEnd) -> Row:
    # not asdict: it would deep-copy what on_saved holds
    return {f.name: getattr(item, f.name) for f in fields(item)}


ROUTES: dict[type, Route] = {
    YouTubeVideo: _result("youtube", lambda v: (v.id, f"https://www.youtube.com/watch?v={v.id}", v.title)),
    CommentsFetched: _result("youtube_comments", lambda c: (c.video_id, c.url, None)),
    BilibiliVideo: _result(
        "bilibili", lambda v: (v.bvid, f"https://www.bilibili.com/video/{v.bvid}", v.title)
    ),
    RedditPost: _result("reddit", lambda p: (p.id, p.permalink, p.title)),
    Article: _result("article", lambda a: (a.url, a.url, a.title)),
    YouTubeComment: _comment("youtube_comments", lambda c: (c.video_id, c.text)),
    RedditComment: _comment("reddit", lambda c: (c.thread_id, c.body)),
    TaskEnd: Route(TASK_ENDS, _task_end),
}
