"""Reddit's thread `.json` and `/api/morechildren` answers -> the post, the comment tree flattened
with depths, and the stubs still to expand: on our own small thread and on the real recordings
(a small thread, and a large one with `more` and "continue this thread" stubs and the
morechildren calls that expanded it)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from crawler.parsers import MalformedResponse
from crawler.sites.reddit import continued_url, more_url, parse_more, parse_thread, thread_url
from tests.conftest import FIXTURES, REAL_FIXTURES, needs_real_fixtures

OWN = FIXTURES / "reddit"


def test_a_thread_its_tree_and_its_stubs() -> None:
    page = parse_thread((OWN / "thread.json").read_bytes())
    assert page.post is not None
    assert (page.post.id, page.post.title, page.post.text, page.post.comment_count) == (
        "abc123",
        "A & B",
        "body with & ampersand",
        7,
    )
    assert [(c.id, c.parent_id, c.depth) for c in page.comments] == [
        ("c1", "t3_abc123", 0),
        ("c2", "t1_c1", 1),
        ("c3", "t1_c1", 1),
        ("c4", "t3_abc123", 0),
    ]
    deleted, removed = page.comments[1], page.comments[3]
    assert (deleted.deleted, deleted.author) == (True, None)  # kept as such, not dropped
    assert (removed.removed, removed.author) == (True, None)
    assert page.more == [["c5", "c6"]] and page.continued == ["c3"]


def test_morechildren_answers_are_flat_with_their_depths() -> None:
    page = parse_more((OWN / "morechildren.json").read_bytes(), "abc123")
    assert [(c.id, c.parent_id, c.depth, c.thread_id) for c in page.comments] == [
        ("c5", "t3_abc123", 0, "abc123"),
        ("c6", "t1_c5", 1, "abc123"),
    ]
    with pytest.raises(MalformedResponse, match="refused"):
        parse_more(json.dumps({"json": {"errors": [["RATELIMIT", "slow down"]], "data": {}}}), "abc123")


@pytest.mark.parametrize("body", [b"", b"<html>Too Many Requests</html>", b"[]", b'{"kind": "Listing"}'])
def test_what_is_not_a_thread_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_thread(body)


def test_the_requests() -> None:
    assert thread_url("abc123") == "https://www.reddit.com/comments/abc123/.json?raw_json=1&limit=500"
    assert continued_url("abc123", "c3") == "https://www.reddit.com/comments/abc123/_/c3/.json?raw_json=1"
    many = more_url("abc123", [f"k{i}" for i in range(150)])
    assert "link_id=t3_abc123" in many and many.count("%2C") == 99  # 100 at most per call


def _cassette(name: str) -> list[dict]:
    return json.loads((REAL_FIXTURES / "reddit" / name).read_text())["interactions"]


@needs_real_fixtures
def test_the_real_small_thread() -> None:
    (answer,) = [
        i for i in _cassette("TestSubmission.test_comments.json") if "/comments/" in i["request"]["uri"]
    ]
    page = parse_thread(answer["response"]["body"]["string"])
    assert page.post is not None and page.post.id == "2gmzqe" and page.post.author == "bboe"
    assert page.post.title == "[PRAW] HTTPS enabled PRAW testing needed" and page.post.comment_count == 2
    assert [(c.id, c.depth, c.author) for c in page.comments] == [
        ("cklfmye", 0, "paneer_burrito"),
        ("cklhv0f", 1, "bboe"),
    ]


@needs_real_fixtures
def test_the_real_large_thread_and_its_expansions() -> None:
    interactions = _cassette("TestCommentForest.test_replace__all.json")
    thread = parse_thread(
        next(i for i in interactions if "/comments/" in i["request"]["uri"])["response"]["body"]["string"]
    )
    assert thread.post is not None and thread.post.id == "3hahrw"
    ids = [c.id for c in thread.comments]
    assert len(ids) == 476 and len(set(ids)) == 476
    known = {f"t1_{i}" for i in ids} | {"t3_3hahrw"}
    assert all(c.parent_id in known for c in thread.comments)  # a tree, each comment under its parent
    assert Counter((c.author is None, c.deleted or c.removed) for c in thread.comments)[(True, True)] == 6
    assert len(thread.more) == 12 and sum(len(m) for m in thread.more) > 12 and len(thread.continued) == 6
    expanded = [
        parse_more(i["response"]["body"]["string"], "3hahrw")
        for i in interactions
        if "morechildren" in i["request"]["uri"]
    ]
    more_ids = [c.id for page in expanded for c in page.comments]
    assert len(expanded) == 12 and len(more_ids) == len(set(more_ids)) and not set(more_ids) & set(ids)
    assert all(c.depth is None for page in expanded for c in page.comments)  # 2016: no depth sent
