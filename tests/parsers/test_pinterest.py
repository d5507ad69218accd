from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crawler.items import PinDetails, PinRefusal
from crawler.parsers import MalformedResponse
from crawler.parsers.pinterest import (
    decode_node_id,
    parse_ids_lines,
    parse_pin_ref,
    parse_pin_resource,
    pin_details_from_data,
    pin_resource_url,
    session_from_http,
)
from tests.conftest import FIXTURES, REAL_FIXTURES, needs_real_fixtures

PIN = FIXTURES / "pinterest"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12345", "12345"),
        ("  635640934940256125 \n", "635640934940256125"),
        ("UGluOjEyMzQ1", "12345"),  # "Pin:12345", unpadded as Pinterest prints it
        ("cGluOjE3NTE0Nzg3Mjk5OTM2MzE4Mw==", "175147872999363183"),  # "pin:..." from a search result
        ("https://www.pinterest.com/pin/175147872999363183/", "175147872999363183"),
        ("https://de.pinterest.com/pin/some-slug--987654/", "987654"),
        ("pinterest.co.uk/pin/42", "42"),
    ],
)
def test_pin_refs_are_resolved_to_numeric_ids(text: str, expected: str) -> None:
    assert parse_pin_ref(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("hello", "'hello' is not a pin id"),
        ("https://example.com/pin/1/", "not a Pinterest pin URL"),
        ("https://www.pinterest.com/someone/board/", "not a Pinterest pin URL"),
        ("Ym9hcmQ6MTEyNjAzNzM0NTk1NjcyMg==", "decodes to 'board:1126037345956722'"),
    ],
)
def test_bad_pin_refs_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_pin_ref(text)


def test_node_id_must_be_a_pin() -> None:
    assert decode_node_id("UGluOjk5") == "99"
    with pytest.raises(ValueError):
        decode_node_id("VXNlcjo4Nzc5OTEwMjcyNjMzNzUwMjI=")  # "User:..."


def test_ids_file_lines_report_bad_lines_with_their_number() -> None:
    lines = ["# my pins\n", "111\n", "\n", "not-a-pin\n", "UGluOjIyMg==\n"]
    assert list(parse_ids_lines(lines)) == [
        (2, "111", None),
        (4, None, "'not-a-pin' is not a pin id (expected digits, a pin URL or a base64 node id)"),
        (5, "222", None),
    ]


def test_pin_resource_answer_becomes_pin_details() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    item = parse_pin_resource(
        (PIN / "pin_resource_ok.json").read_bytes(), "175147872999363183", keyword="quiz", now=now
    )
    assert item == PinDetails(
        id="175147872999363183",
        title="If You Don't Think This Quiz Can Guess Your Height",  # empty title: grid_title
        description=None,  # " " is no description
        link="https://www.buzzfeed.com/andrewziegler/quiz-that-can-guess-your-height",
        image_url="https://i.pinimg.com/originals/1b/9c/ef/1b9cef817a933113042a7b4ec3c837f4.jpg",
        image_width=700,
        image_height=1200,
        board_name="Buzzfeed",
        pinner_username="Lauraka27",
        saves=1532,
        created_at=datetime(2022, 2, 25, 23, 35, 58, tzinfo=UTC),
        details_fetched_at=now,
        keyword="quiz",
    )


def test_not_found_answer_is_a_refusal() -> None:
    item = parse_pin_resource((PIN / "pin_resource_not_found.json").read_bytes(), "1")
    assert item == PinRefusal(id="1", status="not_found", error="40: Pin not found.")


@pytest.mark.parametrize(
    "body",
    [
        b'{"resource_response": {"status": "success", "data": {"id": "17514',  # truncated
        b"<html><body>Internal Server Error</body></html>",
        b"",
        b'{"resource_response": {"status": "success", "data": {"id": "999"}}}',  # another pin
        b'{"something": "else"}',
    ],
)
def test_malformed_answers_raise_with_the_pin_id(body: bytes) -> None:
    with pytest.raises(MalformedResponse, match="pin 175147872999363183"):
        parse_pin_resource(body, "175147872999363183")


def test_pin_resource_url_carries_the_id_in_data() -> None:
    from urllib.parse import parse_qs, urlsplit

    url = pin_resource_url("https://www.pinterest.com", "42")
    parts = urlsplit(url)
    assert parts.path == "/resource/PinResource/get/"
    query = parse_qs(parts.query)
    assert query["source_url"] == ["/pin/42/"]
    assert json.loads(query["data"][0])["options"]["id"] == "42"


def test_session_from_http_reads_the_scripted_csrftoken() -> None:
    session = session_from_http((PIN / "home.html").read_text(), {"_pinterest_sess": "abc"})
    assert session.cookies == {"_pinterest_sess": "abc", "csrftoken": "4f1c0d2e9a8b7c6d5e4f3a2b1c0d9e8f"}
    assert session.app_version == "0eaecc2"
    headers = session.headers()
    assert headers["X-CSRFToken"] == "4f1c0d2e9a8b7c6d5e4f3a2b1c0d9e8f"
    assert headers["Cookie"] == "_pinterest_sess=abc; csrftoken=4f1c0d2e9a8b7c6d5e4f3a2b1c0d9e8f"


def test_session_without_token_cannot_sign() -> None:
    session = session_from_http("<html></html>", {})
    with pytest.raises(ValueError, match="csrftoken"):
        session.headers()


# --- real recordings (skipped on a fresh clone) -------------------------------------------


def _real_search() -> dict:
    text = (REAL_FIXTURES / "pinterest" / "search_obj2.js").read_text()
    data, _ = json.JSONDecoder().raw_decode(text[text.index("{") :])
    return data


@needs_real_fixtures
def test_real_search_results_parse_as_pins() -> None:
    results = _real_search()["resource_response"]["data"]["results"]
    items = [pin_details_from_data(r) for r in results]
    assert len(items) == 25
    for item, raw in zip(items, results, strict=True):
        assert item.id.isdigit() and parse_pin_ref(raw["node_id"]) == item.id
        assert item.image_url and "/originals/" in item.image_url
        assert item.image_width and item.image_height
        assert item.board_name and item.pinner_username
        assert item.created_at is not None and item.created_at.year >= 2010
    assert items[0].title.startswith("How to Make a Narcissist Miserable")


@needs_real_fixtures
def test_sandbox_pins_have_the_real_pins_shape() -> None:
    """The sandbox's PinResource data carries every field the real recording has that we read."""
    from sandbox.pinterest import make_pin

    real = _real_search()["resource_response"]["data"]["results"][0]
    fake = make_pin(0, 123456)
    for key in (
        "id",
        "node_id",
        "title",
        "grid_title",
        "description",
        "link",
        "domain",
        "created_at",
        "images",
        "board",
        "pinner",
        "aggregated_pin_data",
        "dominant_color",
        "image_signature",
    ):
        assert key in real and key in fake, key
    assert set(real["images"]) <= set(fake["images"])
    assert type(real["created_at"]) is type(fake["created_at"])
    assert fake["created_at"][-5:] == real["created_at"][-5:] == "+0000"
    item = pin_details_from_data(fake)
    assert item.saves is not None and item.image_url.startswith("https://i.pinimg.com/originals/")


def test_search_last_page_has_no_bookmark_and_only_pins() -> None:
    from crawler.items import SearchHit
    from crawler.parsers.pinterest import parse_search_page

    page = parse_search_page((PIN / "search_last_page.json").read_bytes(), "cats")
    assert page.hits == [SearchHit("111", "cats"), SearchHit("222", "cats")]
    assert page.bookmark is None


def test_search_url_carries_query_and_bookmark() -> None:
    from urllib.parse import parse_qs, urlsplit

    from crawler.parsers.pinterest import search_url

    query = parse_qs(urlsplit(search_url("https://www.pinterest.com", "red cats", "BM==")).query)
    assert query["source_url"] == ["/search/pins/?q=red%20cats&rs=typed"]
    options = json.loads(query["data"][0])["options"]
    assert options["query"] == "red cats" and options["bookmarks"] == ["BM=="] and options["scope"] == "pins"


def test_malformed_search_page() -> None:
    from crawler.parsers.pinterest import parse_search_page

    with pytest.raises(MalformedResponse, match="search 'cats'"):
        parse_search_page(b'{"resource_response": {"status": "success", "data": {"resu', "cats")


@needs_real_fixtures
def test_real_search_page_gives_25_pins_and_a_bookmark() -> None:
    from crawler.parsers.pinterest import parse_search_page

    page = parse_search_page((REAL_FIXTURES / "pinterest" / "search_obj2.js").read_text(), "narcissist")
    assert len(page.hits) == 25
    assert all(h.id.isdigit() and h.keyword == "narcissist" for h in page.hits)
    assert page.bookmark and page.bookmark.startswith("Y2JV")
