"""The sandbox's `links` sites answer in the real sites' shapes: our own parsers, built on the
real recordings, read every answer; reserved ids refuse in each site's own words."""

from __future__ import annotations

import json

import pytest
import requests
from scrapy.http import HtmlResponse

from crawler.sites import Refused, SlowDown
from crawler.sites.articles import parse_article, refuse_content_type
from crawler.sites.bilibili import HEADERS as BILIBILI_HEADERS
from crawler.sites.bilibili import parse_view
from crawler.sites.reddit import USER_AGENT, parse_more, parse_thread
from crawler.sites.youtube import ConsentPage, parse_transcript, parse_watch
from crawler.sites.youtube_comments import innertube_context, next_body, parse_page, section_token


def _get(sandbox, host: str, path: str, **headers: str) -> requests.Response:
    return requests.get(
        f"{sandbox.url}{path}",
        headers={"X-Forwarded-Host": host, **headers},
        timeout=10,
        allow_redirects=False,
    )


def _next(sandbox, body: bytes) -> requests.Response:
    return requests.post(
        f"{sandbox.url}/youtubei/v1/next?prettyPrint=false",
        data=body,
        headers={"X-Forwarded-Host": "www.youtube.com", "Content-Type": "application/json"},
        timeout=10,
    )


def test_a_video_its_transcript_and_every_comment(sandbox) -> None:
    page = _get(sandbox, "www.youtube.com", "/watch?v=abcdefghijk&hl=en")
    video = parse_watch(page.text)
    assert not isinstance(video, Refused)
    assert video.id == "abcdefghijk" and video.title and video.channel_handle and video.likes is not None
    assert (
        parse_watch(_get(sandbox, "www.youtube.com", "/watch?v=abcdefghijk").text) == video
    )  # the same every time
    with_tracks = next(
        v
        for v in (
            parse_watch(_get(sandbox, "www.youtube.com", f"/watch?v=video{i:06d}").text) for i in range(20)
        )
        if not isinstance(v, Refused) and v.captions
    )
    track = with_tracks.captions[0]
    timed = requests.get(
        f"{sandbox.url}/api/timedtext?{track.url.split('?', 1)[1]}&fmt=json3",
        headers={"X-Forwarded-Host": "www.youtube.com"},
        timeout=10,
    )
    assert len(parse_transcript(timed.content).splitlines()) >= 3

    # comments: the section's token, then every page and every thread's replies
    context = innertube_context(page.text)
    assert context is not None
    assert _next(sandbox, next_body({}, video_id=video.id)).status_code == 400  # no client context
    token = section_token(_next(sandbox, next_body(context, video_id=video.id)).content)
    ids: list[str] = []
    shown = None
    tokens = [(token, None)]
    while tokens:
        token, parent = tokens.pop()
        answer = parse_page(_next(sandbox, next_body(context, token=token)).content, video.id, parent)
        shown = answer.count_shown if answer.count_shown is not None else shown
        ids += [c.id for c in answer.comments]
        if answer.next_token:
            tokens.append((answer.next_token, parent))
        tokens += [(t, cid) for cid, t in answer.reply_tokens.items()]
    assert shown == video.comment_count == len(ids) == len(set(ids))


def test_videos_refuse_in_their_own_words(make_sandbox) -> None:
    sandbox = make_sandbox(eu_consent=1)
    cookie = {"Cookie": "SOCS=CAI"}
    reasons = {
        "privateAAAA": "private:",
        "removedAAAA": "removed:",
        "agelimitAAA": "age-restricted:",
        "botcheckAAA": "blocked:",
        "regionblkAA": "region-blocked:",
    }
    for video_id, start in reasons.items():
        refused = parse_watch(_get(sandbox, "www.youtube.com", f"/watch?v={video_id}", **cookie).text)
        assert isinstance(refused, Refused) and refused.reason.startswith(start), refused
    assert (
        "available in AT, CH, DE"
        in parse_watch(_get(sandbox, "www.youtube.com", "/watch?v=regionblkAA", **cookie).text).reason
    )  # type: ignore[union-attr]
    with pytest.raises(ConsentPage):
        parse_watch(_get(sandbox, "www.youtube.com", "/watch?v=abcdefghijk").text)


def test_bilibili_videos_refusals_and_risk_control(make_sandbox) -> None:
    sandbox = make_sandbox()  # its own: the reserved ids count the asks they have had
    path = "/x/web-interface/view?bvid="
    video = parse_view(_get(sandbox, "api.bilibili.com", path + "BV1xx411c7mD", **BILIBILI_HEADERS).content)
    assert not isinstance(video, Refused | SlowDown) and video.parts and video.views > 0
    # a bare script, without the site's Referer, meets risk control
    assert isinstance(parse_view(_get(sandbox, "api.bilibili.com", path + "BV1xx411c7mD").content), SlowDown)
    for bvid, code in (("BV1404aaaaaa", "-404"), ("BV1hidaaaaaa", "62002"), ("BV1revaaaaaa", "62004")):
        refused = parse_view(_get(sandbox, "api.bilibili.com", path + bvid, **BILIBILI_HEADERS).content)
        assert isinstance(refused, Refused) and refused.reason.startswith(f"Bilibili {code}:")
    answers = [_get(sandbox, "api.bilibili.com", path + "BV1rskaaaaaa", **BILIBILI_HEADERS) for _ in range(3)]
    assert [type(parse_view(a.content)).__name__ for a in answers] == [
        "SlowDown",
        "SlowDown",
        "BilibiliVideo",
    ]
    assert [
        _get(sandbox, "api.bilibili.com", path + "BV1412aaaaaa", **BILIBILI_HEADERS).status_code
        for _ in range(3)
    ] == [412, 412, 200]
    short = _get(sandbox, "b23.tv", "/xYz12AB")
    assert short.status_code == 302 and "www.bilibili.com/video/BV1" in short.headers["Location"]


def test_a_deep_reddit_thread_expands_to_every_comment(sandbox) -> None:
    agent = {"User-Agent": USER_AGENT}
    assert (
        _get(sandbox, "www.reddit.com", "/comments/deep1/.json?raw_json=1").status_code == 429
    )  # no UA of its own
    first = _get(sandbox, "www.reddit.com", "/comments/deep1/.json?raw_json=1", **agent)
    assert {"X-Ratelimit-Remaining", "X-Ratelimit-Reset", "X-Ratelimit-Used"} <= set(first.headers)
    page = parse_thread(first.content)
    assert page.post is not None
    seen = {c.id for c in page.comments}
    more, continued = list(page.more), list(page.continued)
    calls = 0
    while more or continued:
        calls += 1
        if more:
            ids = more.pop()
            children = ",".join(ids[:100])
            url = f"/api/morechildren.json?api_type=json&link_id=t3_deep1&children={children}&raw_json=1"
            more += [ids[100:]] if ids[100:] else []
            got = parse_more(_get(sandbox, "www.reddit.com", url, **agent).content, "deep1")
        else:
            got = parse_thread(
                _get(sandbox, "www.reddit.com", f"/comments/deep1/_/{continued.pop()}/.json", **agent).content
            )
        seen |= {c.id for c in got.comments}
        more += got.more
        continued += got.continued
    assert len(seen) == page.post.comment_count == 400
    assert calls > 10  # the thread needed both kinds of stub
    assert _get(sandbox, "www.reddit.com", "/comments/gone1/.json", **agent).status_code == 404
    assert _get(sandbox, "www.reddit.com", "/comments/private1/.json", **agent).status_code == 403


def test_articles_in_their_charsets_and_what_is_not_one(sandbox) -> None:
    charsets = set()
    for n in range(12):
        answer = _get(sandbox, "news.example.com", f"/2024/story-{n}.html")
        response = HtmlResponse(
            f"https://news.example.com/2024/story-{n}.html",
            body=answer.content,
            headers={"Content-Type": answer.headers["Content-Type"]},
        )
        charsets.add(response.encoding)
        article = parse_article(response.url, response.text)
        assert not isinstance(article, Refused)
        assert "Café crème." in article.text and "All rights reserved" not in article.text
        assert article.title and article.author and article.date and article.language
    assert charsets == {"utf-8", "cp1252", "iso8859-15"}
    pdf = _get(sandbox, "news.example.com", "/report.pdf")
    assert refuse_content_type(pdf.headers["Content-Type"]) == Refused(
        "not an HTML page: the server says it is 'application/pdf'"
    )
    hop = _get(sandbox, "t.example", "/go?to=http://127.0.0.1:9/")
    assert (hop.status_code, hop.headers["Location"]) == (302, "http://127.0.0.1:9/")
    assert (
        json.loads(requests.get(f"{sandbox.url}/_sandbox/stats", timeout=10).text)["resources"]["article"][
            "unique"
        ]
        >= 13
    )
