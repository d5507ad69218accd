"""YouTube videos: the watch page, whose scripts hold `ytInitialPlayerResponse` (the video, its
playability, its caption tracks) and `ytInitialData` (likes, the comment count it shows), and
the caption track's timedtext for the transcript.

A page that cannot play says why in `playabilityStatus`: private, removed, age-restricted, "sign
in to confirm you're not a bot" (blocked), or not in this country. Each is the task's final
word, never retried blindly. In the EU a first visit may get the consent page instead of the
video: the session passes it with the `SOCS` consent cookie (`ConsentPage` tells it so).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode, urlsplit
from xml.etree import ElementTree

from crawler.items import CaptionTrack, YouTubeVideo
from crawler.parsers import MalformedResponse
from crawler.sites import Answer, Fetch, Link, LinkFailed, Options, Refused, Step, refuse_http

SITE = "https://www.youtube.com"
CONSENT_COOKIE = {"SOCS": "CAI"}  # "reject all": the page shows the video, no consent screen
_LIKES = re.compile(r"^([\d.,\s\u00a0]+) likes?$|along with ([\d.,\s\u00a0]+) other (?:people|person)")


class ConsentPage(MalformedResponse):
    """The EU consent screen, not the video: ask again with the consent cookie."""


def watch_url(video_id: str) -> str:
    return f"{SITE}/watch?{urlencode({'v': video_id, 'hl': 'en'})}"


def embedded_json(html: str, name: str) -> dict[str, Any] | None:
    """The object a page's script assigns to `name` (`var name = {...};`, `window["name"] = {...}`),
    read by Python's own JSON decoder from where it starts to where it ends."""
    for marker in (f"{name} = ", f'window["{name}"] = ', f"{name}=", f'window["{name}"]='):
        start = html.find(marker)
        if start == -1:
            continue
        start += len(marker)
        try:
            value, _ = json.JSONDecoder().raw_decode(html, start)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_watch(html: str) -> YouTubeVideo | Refused:
    """A watch page -> the video, or the page's own reason it cannot be had."""
    player = embedded_json(html, "ytInitialPlayerResponse")
    if player is None:
        if "consent.youtube.com" in html or 'action="https://consent.' in html:
            raise ConsentPage("the EU consent page, not the video")
        raise MalformedResponse("a page without ytInitialPlayerResponse")
    refused = _refusal(player.get("playabilityStatus") or {}, player)
    if refused is not None:
        return refused
    details = player.get("videoDetails")
    if not isinstance(details, dict) or not details.get("videoId"):
        raise MalformedResponse("a playable page without videoDetails")
    micro = (player.get("microformat") or {}).get("playerMicroformatRenderer") or {}
    data = embedded_json(html, "ytInitialData") or {}
    return YouTubeVideo(
        id=str(details["videoId"]),
        title=str(details.get("title") or ""),
        channel_name=str(details.get("author") or micro.get("ownerChannelName") or ""),
        channel_id=str(details.get("channelId") or micro.get("externalChannelId") or ""),
        channel_handle=_handle(str(micro.get("ownerProfileUrl") or "")),
        views=_int(details.get("viewCount")),
        length_s=_int(details.get("lengthSeconds")),
        upload_date=_date(micro.get("uploadDate")),
        publish_date=_date(micro.get("publishDate")),
        description=str(details.get("shortDescription") or ""),
        keywords=[str(k) for k in details.get("keywords") or []],
        category=micro.get("category"),
        live=bool(details.get("isLiveContent") or details.get("isLive")),
        age_limit=0 if micro.get("isFamilySafe", True) else 18,
        likes=_likes(data),
        comment_count=_comment_count(data),
        captions=[
            CaptionTrack(
                language=str(track.get("languageCode") or ""),
                auto_generated=track.get("kind") == "asr",
                url=str(track.get("baseUrl") or ""),
            )
            for track in ((player.get("captions") or {}).get("playerCaptionsTracklistRenderer") or {}).get(
                "captionTracks"
            )
            or []
            if track.get("baseUrl")
        ],
    )


def _refusal(status: dict[str, Any], player: dict[str, Any]) -> Refused | None:
    state = status.get("status", "OK")
    if state in ("OK", "LIVE_STREAM_OFFLINE"):
        return None
    screen = (status.get("errorScreen") or {}).get("playerErrorMessageRenderer") or {}
    reason = _text(screen.get("reason")) or str(status.get("reason") or "")
    detail = _text(screen.get("subreason")) or " ".join(str(m) for m in status.get("messages") or [])
    said = f"{reason} ({detail})" if detail and detail != reason else reason
    lowered = f"{reason} {detail}".lower()
    if "not a bot" in lowered:
        return Refused(f"blocked: {said}")
    if (
        state in ("AGE_CHECK_REQUIRED", "AGE_VERIFICATION_REQUIRED", "CONTENT_CHECK_REQUIRED")
        or "age" in lowered
    ):
        return Refused(f"age-restricted: {said}")
    if "private" in lowered:
        return Refused(f"private: {said}")
    if re.search(r"\b(?:country|countries|region)\b", lowered):
        micro = (player.get("microformat") or {}).get("playerMicroformatRenderer") or {}
        countries = micro.get("availableCountries") or []
        where = f"; available in {', '.join(countries)}" if countries else ""
        return Refused(f"region-blocked: {said}{where}")
    if state in ("ERROR", "UNPLAYABLE") or "removed" in lowered or "unavailable" in lowered:
        return Refused(f"removed: {said}")
    return Refused(f"{state.lower()}: {said}")


def _text(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    if "simpleText" in value:
        return str(value["simpleText"])
    return "".join(str(run.get("text", "")) for run in value.get("runs") or [])


def _int(value: Any) -> int | None:
    try:
        return int(str(value).replace(",", ""))
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> str | None:
    return str(value)[:10] if value else None  # "2019-12-05" or "2019-12-05T00:00:00-08:00"


def _handle(profile_url: str) -> str | None:
    """`http://www.youtube.com/@handle` (or an older /user/ or /c/ URL) -> `@handle`."""
    path = urlsplit(profile_url).path
    if path.startswith("/@"):
        return path[1:].split("/")[0]
    return None


def _strings(value: Any) -> Any:
    """Every string of a nested JSON value, depth first."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _likes(data: dict[str, Any]) -> int | None:
    """The like count from the like button's accessibility text, in the page's older ("N likes")
    and newer ("like this video along with N other people") words."""
    for text in _strings(data):
        if "dislike" in text.lower():
            continue
        match = _LIKES.search(text.strip())
        if match:
            return _int(re.sub(r"[\s\u00a0.,]", "", match.group(1) or match.group(2)))
    return None


def _comment_count(data: dict[str, Any]) -> int | None:
    """The comment count the page shows: the comments panel's header, when the page has it."""
    for panel in data.get("engagementPanels") or []:
        renderer = panel.get("engagementPanelSectionListRenderer") or {}
        if renderer.get("panelIdentifier") == "engagement-panel-comments-section":
            header = (renderer.get("header") or {}).get("engagementPanelTitleHeaderRenderer") or {}
            return _int(_text(header.get("contextualInfo")))
    return None


def parse_transcript(body: bytes | str) -> str:
    """A caption track's timedtext (json3, or the XML of `srv1`/`srv3`) -> its text, one cue a line."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    if text.lstrip().startswith("{"):
        try:
            events = json.loads(text).get("events") or []
        except ValueError as exc:
            raise MalformedResponse(f"timedtext json3: {exc}") from None
        cues = ("".join(seg.get("utf8", "") for seg in event.get("segs") or []) for event in events)
        return "\n".join(cue.strip() for cue in cues if cue.strip())
    try:
        root = ElementTree.fromstring(text)  # expat (2.4+) refuses entity-expansion bombs
    except ElementTree.ParseError as exc:
        raise MalformedResponse(f"timedtext XML: {exc}") from None
    cues = ("".join(node.itertext()) for node in root.iter() if node.tag in ("text", "p"))
    return "\n".join(cue.strip() for cue in cues if cue.strip())


def watched(answer: Answer) -> YouTubeVideo:
    """A watch page's answer -> the video; the page's refusal, or the consent page the cookie
    should have passed, as the link's failure."""
    refuse_http(answer, "YouTube")
    try:
        video = parse_watch(answer.text or answer.body.decode("utf-8", "replace"))
    except ConsentPage:
        raise LinkFailed("YouTube answered its consent page despite the consent cookie") from None
    if isinstance(video, Refused):
        raise LinkFailed(video.reason)
    return video


class VideoFlow:
    """A video: its watch page (with the consent cookie, as an EU visitor's session has it),
    then its transcript when it has a caption track (a manual one before an automatic one)."""

    def __init__(self, options: Options) -> None:
        self.options = options

    def start(self, link: Link, url: str, state: dict[str, Any]) -> Fetch:
        return Fetch(watch_url(link.id or ""), cookies=CONSENT_COOKIE, note={"step": "watch"})

    def step(self, answer: Answer, state: dict[str, Any]) -> Step:
        if answer.note["step"] == "watch":
            video = watched(answer)
            tracks = sorted(video.captions, key=lambda t: t.auto_generated)
            if not tracks:
                return Step([video], result=f"youtube:{video.id}")
            state["video"] = video
            track = tracks[0]
            url = track.url + ("&" if "?" in track.url else "?") + "fmt=json3"
            return Step(next=Fetch(url, cookies=CONSENT_COOKIE, note={"step": "transcript", "track": track}))
        video, track = state.pop("video"), answer.note["track"]
        if answer.status == 200 and answer.body:  # a track that went away leaves the video without
            video.transcript = parse_transcript(answer.body)
            video.transcript_language = track.language
            video.transcript_auto_generated = track.auto_generated
        return Step([video], result=f"youtube:{video.id}")
