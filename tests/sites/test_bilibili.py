"""The Bilibili view API's answers -> a video, the site's refusal, or risk control: on our own
small fixtures and on the real recording (a video page's state, whose `videoData` is the API's
`data`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crawler.parsers import MalformedResponse
from crawler.sites import Refused, SlowDown
from crawler.sites.bilibili import parse_view, video_from, view_url
from tests.conftest import FIXTURES, REAL_FIXTURES, needs_real_fixtures

OWN = FIXTURES / "bilibili"


def test_a_video_with_its_parts_and_stats() -> None:
    video = parse_view((OWN / "view_ok.json").read_bytes())
    assert not isinstance(video, Refused | SlowDown)
    assert (video.bvid, video.aid, video.cid, video.title) == ("BV1xx411c7mD", 170001, 279786, "A test video")
    assert (video.owner_name, video.owner_id, video.duration_s) == ("uploader", 2, 300)
    assert video.published_at == datetime(2010, 1, 1, tzinfo=UTC)
    assert [(p.page, p.title, p.duration_s) for p in video.parts] == [(1, "one", 100), (2, "two", 200)]
    stats = (
        video.views,
        video.danmaku,
        video.replies,
        video.favourites,
        video.coins,
        video.shares,
        video.likes,
    )
    assert stats == (1000, 10, 20, 30, 40, 50, 60)


def test_the_sites_final_word_and_its_risk_control() -> None:
    assert parse_view((OWN / "view_hidden.json").read_bytes()) == Refused("Bilibili 62002: hidden")
    assert parse_view(json.dumps({"code": -404, "message": "啥都木有"})) == Refused(
        "Bilibili -404: not found"
    )
    slow = parse_view((OWN / "view_risk_control.json").read_bytes())
    assert isinstance(slow, SlowDown) and "-352" in slow.reason


@pytest.mark.parametrize(
    "body", [b"", b"<html>502 Bad Gateway</html>", b'{"data": {}}', b'{"code": 0, "data": {}}']
)
def test_what_is_not_the_api_s_answer_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_view(body)


def test_the_request() -> None:
    assert view_url("BV1ZF411g7EZ") == "https://api.bilibili.com/x/web-interface/view?bvid=BV1ZF411g7EZ"


@needs_real_fixtures
def test_the_real_recording() -> None:
    text = (REAL_FIXTURES / "bilibili" / "video_info.js").read_text(encoding="utf-8")
    state = json.loads(text[text.index("{") :].rstrip().rstrip(";"))
    video = video_from(state["videoData"])
    assert (video.bvid, video.aid, video.cid) == ("BV1ZF411g7EZ", 298290791, 578491576)
    assert video.title == "《原神》PV短片——「雪霁逢椿」" and video.owner_name == "原神"
    assert len(video.parts) == 4 and video.parts[0].duration_s == 196
    assert video.views == 7080001 and video.likes == 669227 and video.duration_s == 777
