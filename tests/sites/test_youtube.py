"""YouTube watch pages -> a video or the page's own reason, and caption tracks -> a transcript:
on our own small pages and on the real recordings (a video, and a private one)."""

from __future__ import annotations

import gzip
import json

import pytest

from crawler.items import YouTubeVideo
from crawler.parsers import MalformedResponse
from crawler.sites import Refused
from crawler.sites.youtube import ConsentPage, parse_transcript, parse_watch, watch_url
from tests.conftest import FIXTURES, REAL_FIXTURES, needs_real_fixtures

OWN = FIXTURES / "youtube"


def _page(name: str) -> str:
    return (OWN / name).read_text(encoding="utf-8")


def test_a_video_with_its_channel_dates_likes_comments_and_caption_tracks() -> None:
    video = parse_watch(_page("watch_ok.html"))
    assert isinstance(video, YouTubeVideo)
    assert (video.id, video.title) == ("dQw4w9WgXcQ", 'A title with "quotes" and };</script> inside')
    assert (video.channel_name, video.channel_id, video.channel_handle) == (
        "Someone",
        "UCuAXFkgsw1L7xaCfnd5JJOw",
        "@someone",
    )
    assert (video.views, video.length_s, video.upload_date, video.publish_date) == (
        1234567,
        212,
        "2009-10-24",
        "2009-10-24",
    )
    assert (video.category, video.live, video.age_limit, video.keywords) == (
        "Music",
        False,
        0,
        ["one", "two"],
    )
    assert (video.likes, video.comment_count) == (18123456, 2345)
    assert [(c.language, c.auto_generated) for c in video.captions] == [("en", True), ("de", False)]


@pytest.mark.parametrize(
    ("page", "reason"),
    [
        (
            "watch_bot.html",
            "blocked: Sign in to confirm you\u2019re not a bot (This helps protect our community.)",
        ),
        ("watch_age.html", "age-restricted: Sign in to confirm your age (This video may be inappropriate"),
        ("watch_removed.html", "removed: This video has been removed by the uploader"),
        (
            "watch_region.html",
            "region-blocked: Video unavailable (The uploader has not made this video available",
        ),
    ],
)
def test_each_unplayable_page_says_why_in_its_own_words(page: str, reason: str) -> None:
    refused = parse_watch(_page(page))
    assert isinstance(refused, Refused) and refused.reason.startswith(reason)


def test_a_region_block_names_the_countries_and_the_consent_page_is_told_apart() -> None:
    refused = parse_watch(_page("watch_region.html"))
    assert isinstance(refused, Refused) and refused.reason.endswith("; available in JP, KR")
    with pytest.raises(ConsentPage):
        parse_watch(_page("consent.html"))
    with pytest.raises(MalformedResponse):
        parse_watch("<html>an error page</html>")


def test_transcripts_from_json3_and_xml_timedtext() -> None:
    assert (
        parse_transcript((OWN / "timedtext.json3").read_bytes())
        == "Never gonna give you up\nnever gonna let you down"
    )
    assert parse_transcript((OWN / "timedtext.xml").read_bytes()) == "Never gonna & give\nyou up"
    with pytest.raises(MalformedResponse):
        parse_transcript(b"<transcript><text>cut")


def test_the_request() -> None:
    assert watch_url("dQw4w9WgXcQ") == "https://www.youtube.com/watch?v=dQw4w9WgXcQ&hl=en"


def _real(name: str) -> str:
    return json.loads(gzip.decompress((REAL_FIXTURES / "youtube" / name).read_bytes()))["watch_html"]


@needs_real_fixtures
def test_the_real_video_page() -> None:
    video = parse_watch(_real("yt-video-2lAe1cqCOXo-html.json.gz"))
    assert isinstance(video, YouTubeVideo)
    assert (video.id, video.channel_name, video.channel_id) == (
        "2lAe1cqCOXo",
        "YouTube",
        "UCBR8-60-B28hp2BmDPdntcQ",
    )
    assert video.title == "YouTube Rewind 2019: For the Record | #YouTubeRewind"
    assert (video.views, video.length_s, video.upload_date, video.category) == (
        115965063,
        337,
        "2019-12-05",
        "Entertainment",
    )
    assert video.likes == 3485266 and not video.live and video.age_limit == 0
    assert len(video.captions) == 40 and {"en", "de", "ja"} <= {c.language for c in video.captions}


@needs_real_fixtures
def test_the_real_private_video_page() -> None:
    refused = parse_watch(_real("yt-video-m8uHb5jIGN8-html.json.gz"))
    assert refused == Refused("private: Private video (Sign in if you've been granted access to this video)")
