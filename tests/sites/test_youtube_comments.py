"""YouTube comments through the innertube `next` API: the section's first token, pages with their
header, sort tokens, threads, replies' tokens and next page, the comment entities; on our own
pages and on the real recordings (first calls by video id, then comment pages)."""

from __future__ import annotations

import json

import pytest

from crawler.parsers import MalformedResponse
from crawler.sites.youtube_comments import innertube_context, next_body, parse_page, section_token
from tests.conftest import FIXTURES, REAL_FIXTURES, needs_real_fixtures

OWN = FIXTURES / "youtube"


def test_a_page_with_its_header_sorts_threads_and_tokens() -> None:
    page = parse_page((OWN / "comments_page.json").read_bytes(), "dQw4w9WgXcQ")
    assert page.count_shown == 1204
    assert page.sort_tokens == {"top": "tok-top", "new": "tok-new"} and page.next_token == "tok-page-2"
    pinned, second = page.comments
    assert (pinned.id, pinned.text, pinned.likes, pinned.pinned, pinned.hearted, pinned.by_creator) == (
        "Ugx-pinned",
        "From the creator",
        1200,
        True,
        True,
        True,
    )
    assert (second.author, second.author_channel_id, second.likes, second.reply_count) == (
        "@authorb",
        "UCb",
        15,
        3,
    )
    assert (second.published, second.parent_id, second.video_id) == ("2 days ago", None, "dQw4w9WgXcQ")
    assert page.reply_tokens == {"Ugx-second": "tok-replies-b"}


def test_a_replies_page_gives_its_comments_their_parent() -> None:
    page = parse_page((OWN / "comments_replies.json").read_bytes(), "dQw4w9WgXcQ", parent_id="Ugx-second")
    assert [(c.id, c.parent_id, c.text) for c in page.comments] == [
        ("Ugx-second.r1", "Ugx-second", "a reply")
    ]


def test_the_call_and_the_pages_client_context() -> None:
    context = innertube_context((OWN / "watch_ytcfg.html").read_text())
    assert context == {
        "client": {"hl": "en", "gl": "US", "clientName": "WEB", "clientVersion": "2.20260101.00.00"}
    }
    assert json.loads(next_body(context, video_id="dQw4w9WgXcQ")) == {
        "context": context,
        "videoId": "dQw4w9WgXcQ",
    }
    assert json.loads(next_body(context, token="tok")) == {"context": context, "continuation": "tok"}
    with pytest.raises(MalformedResponse):
        parse_page(b"<html>", "x")


def _recorded(n: int) -> tuple[dict, str]:
    record = json.loads((REAL_FIXTURES / "youtube_comments" / f"thomas_mock_{n}.json").read_text())
    return json.loads(bytes(record["request"]["dataToSend"])), record["response"]["responseBody"]


@needs_real_fixtures
@pytest.mark.parametrize(("first", "then"), [(2, 3), (4, 5)])
def test_the_real_calls(first: int, then: int) -> None:
    sent, answer = _recorded(first)
    token = section_token(answer)
    sent_next, page_answer = _recorded(then)
    assert (
        "videoId" in sent and token is not None and sent_next["continuation"] == token
    )  # what was asked next
    page = parse_page(page_answer, sent["videoId"])
    assert page.count_shown == 7 and set(page.sort_tokens) == {"top", "new"}
    assert [c.id for c in page.comments] == [
        "Ugj1yo5xTCQt9HgCoAEC",
        "Ugyupvm3YjcpQ5RLtbp4AaABAg",
        "UgiMBVVB9XkcTHgCoAEC",
    ]
    first_comment = page.comments[0]
    assert (first_comment.text, first_comment.author, first_comment.published) == (
        "Category: Education (now in 1080p)",
        "@Nicky-mg4up",
        "9 years ago",
    )
    assert first_comment.hearted and not page.comments[1].hearted and first_comment.likes == 1
