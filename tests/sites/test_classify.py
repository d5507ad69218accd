"""classify(url): the source of a link from its URL alone."""

from __future__ import annotations

import pytest

from crawler.sites import ARTICLE, BILIBILI, REDDIT, YOUTUBE, YOUTUBE_COMMENTS, Link, NotALink, classify


@pytest.mark.parametrize(
    ("url", "link"),
    [
        ("https://www.youtube.com/watch?v=2lAe1cqCOXo", Link(YOUTUBE, "2lAe1cqCOXo")),
        ("https://m.youtube.com/watch?feature=share&v=2lAe1cqCOXo&t=10", Link(YOUTUBE, "2lAe1cqCOXo")),
        ("https://youtu.be/2lAe1cqCOXo?si=abc", Link(YOUTUBE, "2lAe1cqCOXo")),
        ("https://www.youtube.com/shorts/m8uHb5jIGN8", Link(YOUTUBE, "m8uHb5jIGN8")),
        ("https://youtube.com/live/m8uHb5jIGN8?feature=share", Link(YOUTUBE, "m8uHb5jIGN8")),
        ("https://www.youtube.com/channel/UCxyz", Link(ARTICLE)),  # not a video
        ("https://www.youtube.com/watch?v=short", Link(ARTICLE)),
        ("https://www.bilibili.com/video/BV1ZF411g7EZ/?spm_id_from=333", Link(BILIBILI, "BV1ZF411g7EZ")),
        ("https://m.bilibili.com/video/BV1ZF411g7EZ", Link(BILIBILI, "BV1ZF411g7EZ")),
        ("https://b23.tv/AbCdEf1", Link(BILIBILI)),  # its redirect names the video
        ("https://www.reddit.com/r/Python/comments/2gmzqe/the_title/", Link(REDDIT, "2gmzqe")),
        ("https://old.reddit.com/r/Python/comments/2gmzqe", Link(REDDIT, "2gmzqe")),
        (
            "https://www.reddit.com/comments/2gmzqe/",
            Link(REDDIT, "2gmzqe"),
        ),  # the short form Reddit serves too
        ("https://redd.it/2gmzqe", Link(REDDIT, "2gmzqe")),
        ("https://www.reddit.com/r/Python/", Link(ARTICLE)),  # a listing, not a thread
        ("https://www.tofugu.com/japan/dezuka-suisan/", Link(ARTICLE)),
        ("HTTPS://WWW.YOUTUBE.COM/watch?v=2lAe1cqCOXo", Link(YOUTUBE, "2lAe1cqCOXo")),
    ],
)
def test_each_source_from_its_urls(url: str, link: Link) -> None:
    assert classify(url) == link


def test_a_type_given_by_the_batch_is_checked_against_the_url() -> None:
    assert classify("https://youtu.be/2lAe1cqCOXo", "youtube_comments") == Link(
        YOUTUBE_COMMENTS, "2lAe1cqCOXo"
    )
    assert classify("https://youtu.be/2lAe1cqCOXo", "article") == Link(ARTICLE)
    with pytest.raises(NotALink, match="not a reddit link"):
        classify("https://youtu.be/2lAe1cqCOXo", "reddit")
    with pytest.raises(NotALink, match="unknown type 'podcast'"):
        classify("https://example.com/a", "podcast")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("file:///etc/passwd", "not 'file'"),
        ("data:text/html,<p>hi</p>", "not 'data'"),
        ("ftp://example.com/a", "not 'ftp'"),
        ("example.com/page", "not 'no scheme'"),
        ("https:///nohost", "no host"),
    ],
)
def test_what_is_not_a_link_is_named_in_one_line(url: str, why: str) -> None:
    with pytest.raises(NotALink) as refused:
        classify(url)
    assert repr(url) in str(refused.value) and why in str(refused.value) and "\n" not in str(refused.value)
