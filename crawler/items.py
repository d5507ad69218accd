"""Items: what the spiders produce, in the user's words. Separate from the database models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class PinDetails:
    """A pin's details as Pinterest's PinResource API gives them."""

    id: str
    title: str | None
    description: str | None
    link: str | None
    image_url: str | None  # the largest original
    image_width: int | None
    image_height: int | None
    board_name: str | None
    pinner_username: str | None
    saves: int | None
    created_at: datetime | None
    details_fetched_at: datetime
    keyword: str | None = None


@dataclass(slots=True)
class PinRefusal:
    """A pin the API refused (deleted, hidden, invalid): stored so it is not asked for again."""

    id: str
    status: str  # e.g. "not_found", "forbidden"
    error: str  # the API's own code and message
    keyword: str | None = None


@dataclass(slots=True)
class SearchHit:
    """A pin found by a keyword search: stored under the keyword, its details fetched later."""

    id: str
    keyword: str


@dataclass(slots=True)
class PinImage:
    """A pin's image to download: the original, or `fallback_url` (736x) when that is refused."""

    id: str
    keyword: str | None
    url: str
    fallback_url: str | None = None
    path: str | None = None  # where it was saved, once it is
    using_fallback: bool = False  # the pipeline is trying fallback_url


@dataclass(slots=True)
class VehicleReport:
    """A J.D. Power vehicle report, saved: where, how big, its SHA-256, and how long it took."""

    ref: str
    description: str
    path: str
    size: int
    sha256: str
    seconds: float


@dataclass(slots=True)
class BilibiliPart:
    cid: int
    page: int
    title: str
    duration_s: int


@dataclass(slots=True)
class BilibiliVideo:
    """A Bilibili video as its `x/web-interface/view` envelope gives it."""

    bvid: str
    aid: int
    cid: int
    title: str
    description: str
    owner_name: str
    owner_id: int
    published_at: datetime
    duration_s: int
    parts: list[BilibiliPart]
    views: int
    danmaku: int
    replies: int
    favourites: int
    coins: int
    shares: int
    likes: int


@dataclass(slots=True)
class RedditPost:
    id: str
    subreddit: str
    title: str
    author: str | None  # None: deleted
    text: str
    url: str
    permalink: str
    score: int
    comment_count: int  # what the post says; the comments fetched are counted apart
    created_at: datetime
    over_18: bool
    locked: bool
    removed: bool


@dataclass(slots=True)
class RedditComment:
    id: str
    thread_id: str
    parent_id: str  # t1_<comment> or t3_<post>
    author: str | None  # None: deleted
    body: str
    score: int
    created_at: datetime
    depth: int | None  # None: a morechildren answer that did not say (its parent's + 1)
    deleted: bool
    removed: bool
    stickied: bool
    edited: bool


@dataclass(slots=True)
class CaptionTrack:
    language: str
    auto_generated: bool
    url: str  # the timedtext URL the page gives


@dataclass(slots=True)
class YouTubeVideo:
    """A YouTube video as its watch page (ytInitialPlayerResponse, ytInitialData) describes it."""

    id: str
    title: str
    channel_name: str
    channel_id: str
    channel_handle: str | None
    views: int | None
    length_s: int | None
    upload_date: str | None  # YYYY-MM-DD, as the page says it
    publish_date: str | None
    description: str
    keywords: list[str]
    category: str | None
    live: bool
    age_limit: int  # 18 when the page is not family-safe, else 0
    likes: int | None
    comment_count: int | None  # the count the page shows, when it shows one
    captions: list[CaptionTrack]
    transcript: str | None = None  # filled from the chosen caption track
    transcript_language: str | None = None
    transcript_auto_generated: bool | None = None


@dataclass(slots=True)
class YouTubeComment:
    id: str
    video_id: str
    parent_id: str | None  # the comment it replies to
    author: str
    author_channel_id: str | None
    text: str
    likes: int
    reply_count: int
    published: str  # as the page says it: "9 years ago"
    pinned: bool
    hearted: bool
    by_creator: bool


@dataclass(slots=True)
class Article:
    """A news or blog page's main text and what the page says about itself."""

    url: str  # the page's address after redirects
    title: str | None
    author: str | None
    date: str | None  # YYYY-MM-DD, the publication date the page gives
    site_name: str | None
    language: str | None  # what the page declares (`<html lang>`, Content-Language)
    text: str  # the main text, boilerplate (menus, footers, share buttons, comments) left out


@dataclass(slots=True)
class CommentsFetched:
    """A `youtube_comments` task's result: the count the page shows and the count fetched."""

    video_id: str
    url: str
    sort: str  # top or new
    count_shown: int | None
    count_fetched: int


@dataclass(slots=True)
class TaskEnd:
    """A task's end, written after its results (the writer keeps their order): only the lease
    holder's end counts (crawler/db/tasks.py)."""

    queue: str
    batch: str
    key: str
    owner: str
    state: str  # completed or failed
    error: str | None = None
    result_ref: str | None = None  # "<kind>:<id>" in link_results
    final: bool = True  # a failure to try again later (risk control, retries used up) is not
    slot: int | None = None  # the worker that did it
    # called on the writer's thread once the end is saved (True) or refused: the lease was lost
    # (False); the progress file says a task ended only when it is saved
    on_saved: Any = field(default=None, compare=False, repr=False)
