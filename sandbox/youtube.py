"""YouTube, as `links` sees it: watch pages, caption tracks, and comments through innertube.

- ``GET /watch?v=ID``: the page's ``ytcfg.set({... INNERTUBE_CONTEXT ...})``, then
  ``var ytInitialPlayerResponse = {...};`` (videoDetails, microformat, playabilityStatus,
  captions) and ``var ytInitialData = {...};`` (the like button's words, the comments panel's
  count), shaped like the real recordings. ``youtu.be/ID`` redirects to it.
- ``GET /api/timedtext?v=ID&lang=L[&fmt=json3]``: the track's cues (json3, else XML).
- ``POST /youtubei/v1/next``: by ``videoId`` the comment section's first token; by
  ``continuation`` a page of 20 threads (the first with the header: count shown, Top and Newest
  tokens), or 10 replies of a thread. Without the page's client context: 400, as the real one.

Any 11-character id is a video. Reserved prefixes make it refuse in the page's own words:
``private``, ``removed``, ``agelimit``, ``botcheck`` (sign in to confirm you're not a bot),
``regionblk`` (not in your country). ``--eu-consent 1`` answers the consent page to a client
without the ``SOCS`` cookie.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from . import stable
from .server import Route, Sandbox

HOSTS = ("www.youtube.com", "youtube.com", "m.youtube.com")
CLIENT_VERSION = "2.20261101.01.00"
THREADS_PER_PAGE = 20
REPLIES_PER_PAGE = 10
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")

# reserved id prefixes -> (playabilityStatus.status, reason, subreason)
REFUSALS = {
    "private": ("LOGIN_REQUIRED", "Private video", "Sign in if you've been granted access to this video"),
    "removed": ("ERROR", "This video has been removed by the uploader", ""),
    "agelimit": (
        "LOGIN_REQUIRED",
        "Sign in to confirm your age",
        "This video may be inappropriate for some users.",
    ),
    "botcheck": (
        "LOGIN_REQUIRED",
        "Sign in to confirm you\u2019re not a bot",
        "This helps protect our community.",
    ),
    "regionblk": (
        "UNPLAYABLE",
        "Video unavailable",
        "The uploader has not made this video available in your country",
    ),
}


def video(seed: int, video_id: str) -> dict[str, Any]:
    """What the sandbox knows of a video: the same for an id in every run."""
    r = stable.rng(seed, "youtube", video_id)
    published = datetime(2015, 1, 1, tzinfo=UTC) + timedelta(days=r.randrange(3650))
    channel = r.choice(stable.NAMES)
    threads = 0 if r.random() < 0.1 else r.randrange(1, 45)
    replies = [r.randrange(1, 14) if r.random() < 0.3 else 0 for _ in range(threads)]
    return {
        "id": video_id,
        "title": stable.sentence(r, 6)[:-1],
        "channel": channel,
        "channel_id": "UC" + stable.digest(seed, "channel", channel, 22),
        "handle": f"@{channel.lower()}tv",
        "views": r.randrange(100, 5_000_000),
        "length": r.randrange(30, 3600),
        "published": published,
        "description": "\n".join(stable.sentence(r) for _ in range(3)),
        "keywords": sorted({r.choice(stable.WORDS) for _ in range(4)}),
        "category": r.choice(("Music", "Education", "Travel & Events", "People & Blogs")),
        "live": r.random() < 0.05,
        "likes": r.randrange(0, 200_000),
        "captions": [("en", True)] + ([("de", False)] if r.random() < 0.3 else [])
        if r.random() < 0.6
        else [],
        "replies": replies,  # per top-level thread, how many replies it has
        "pinned": threads > 0 and r.random() < 0.3,
        "hearted": {i for i in range(threads) if r.random() < 0.1},
    }


def refusal(video_id: str) -> tuple[str, str, str] | None:
    for prefix, refused in REFUSALS.items():
        if video_id.startswith(prefix):
            return refused
    return None


def _runs(text: str) -> dict[str, Any]:
    return {"runs": [{"text": text}]}


def _token(**state: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def _untoken(token: str) -> dict[str, Any] | None:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    return state if isinstance(state, dict) else None


def _script_json(value: Any) -> str:
    # as YouTube writes it: JSON, with "</" escaped so a title cannot end the script
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


class YouTubeSite:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    @property
    def seed(self) -> int:
        return self.sandbox.knobs.seed

    async def short(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        raise web.HTTPFound(f"https://www.youtube.com/watch?v={match['id']}&feature=youtu.be")

    async def watch(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        video_id = request.query.get("v", "")
        if not _VIDEO_ID.fullmatch(video_id):
            return web.Response(
                status=404, text="<html><body>404 Not Found</body></html>", content_type="text/html"
            )
        if self.sandbox.knobs.eu_consent and "SOCS" not in request.cookies:
            return web.Response(text=_CONSENT, content_type="text/html", charset="utf-8")
        self.sandbox.record_fetch(f"youtube:{video_id}")
        player, data = self._player(video_id), self._initial_data(video_id)
        config = {
            "INNERTUBE_API_KEY": "AIzaSandboxKey",
            "INNERTUBE_CONTEXT": {
                "client": {"hl": "en", "gl": "US", "clientName": "WEB", "clientVersion": CLIENT_VERSION}
            },
        }
        html = (
            '<!DOCTYPE html><html lang="en"><head><title>'
            + (player.get("videoDetails") or {}).get("title", "YouTube").replace("<", "&lt;")
            + " - YouTube</title>"
            + f"<script>ytcfg.set({json.dumps(config)});</script></head><body>"
            + f"<script>var ytInitialPlayerResponse = {_script_json(player)};"
            + "var meta = document.createElement('meta');</script>"
            + f"<script>var ytInitialData = {_script_json(data)};</script></body></html>"
        )
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    def _player(self, video_id: str) -> dict[str, Any]:
        refused = refusal(video_id)
        if refused is not None:
            status, reason, subreason = refused
            player: dict[str, Any] = {
                "playabilityStatus": {
                    "status": status,
                    "reason": reason,
                    "errorScreen": {
                        "playerErrorMessageRenderer": {
                            "reason": {"simpleText": reason},
                            **({"subreason": _runs(subreason)} if subreason else {}),
                        }
                    },
                }
            }
            if video_id.startswith("regionblk"):
                player["microformat"] = {
                    "playerMicroformatRenderer": {"availableCountries": ["AT", "CH", "DE"]}
                }
            return player
        v = video(self.seed, video_id)
        day = v["published"].strftime("%Y-%m-%dT%H:%M:%S-07:00")
        return {
            "playabilityStatus": {"status": "OK", "playableInEmbed": True},
            "videoDetails": {
                "videoId": video_id,
                "title": v["title"],
                "lengthSeconds": str(v["length"]),
                "keywords": v["keywords"],
                "channelId": v["channel_id"],
                "shortDescription": v["description"],
                "viewCount": str(v["views"]),
                "author": v["channel"],
                "isLiveContent": v["live"],
                "isPrivate": False,
            },
            "microformat": {
                "playerMicroformatRenderer": {
                    "title": {"simpleText": v["title"]},
                    "ownerProfileUrl": f"http://www.youtube.com/{v['handle']}",
                    "externalChannelId": v["channel_id"],
                    "ownerChannelName": v["channel"],
                    "isFamilySafe": True,
                    "category": v["category"],
                    "publishDate": day,
                    "uploadDate": day,
                    "availableCountries": ["DE", "FR", "GB", "US"],
                }
            },
            "captions": {
                "playerCaptionsTracklistRenderer": {
                    "captionTracks": [
                        {
                            "baseUrl": f"https://www.youtube.com/api/timedtext?v={video_id}&lang={lang}"
                            + ("&kind=asr" if asr else ""),
                            "name": _runs(lang),
                            "vssId": ("a." if asr else ".") + lang,
                            "languageCode": lang,
                            **({"kind": "asr"} if asr else {}),
                        }
                        for lang, asr in v["captions"]
                    ]
                }
            }
            if v["captions"]
            else {},
        }

    def _initial_data(self, video_id: str) -> dict[str, Any]:
        if refusal(video_id) is not None:
            return {"contents": {}}
        v = video(self.seed, video_id)
        shown = len(v["replies"]) + sum(v["replies"])
        words = f"like this video along with {v['likes']:,} other people"
        like = {
            "segmentedLikeDislikeButtonViewModel": {
                "likeButtonViewModel": {
                    "likeButtonViewModel": {
                        "toggleButtonViewModel": {
                            "toggleButtonViewModel": {
                                "defaultButtonViewModel": {
                                    "buttonViewModel": {
                                        "title": f"{v['likes']:,}",
                                        "accessibilityText": words,
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return {
            "contents": {"twoColumnWatchNextResults": {"results": {"results": {"contents": [like]}}}},
            "engagementPanels": [
                {
                    "engagementPanelSectionListRenderer": {
                        "panelIdentifier": "engagement-panel-comments-section",
                        "header": {
                            "engagementPanelTitleHeaderRenderer": {
                                "title": _runs("Comments"),
                                "contextualInfo": _runs(f"{shown:,}"),
                            }
                        },
                    }
                }
            ],
        }

    async def timedtext(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        video_id, lang = request.query.get("v", ""), request.query.get("lang", "")
        if not _VIDEO_ID.fullmatch(video_id) or refusal(video_id) is not None:
            return web.Response(status=404)
        if lang not in {code for code, _ in video(self.seed, video_id)["captions"]}:
            return web.Response(text="", content_type="text/html")  # what YouTube sends for no track
        self.sandbox.record_fetch(f"timedtext:{video_id}:{lang}")
        r = stable.rng(self.seed, "cues", f"{video_id}:{lang}")
        cues = [stable.sentence(r, 8) for _ in range(r.randrange(3, 12))]
        if request.query.get("fmt") == "json3":
            events = [
                {"tStartMs": i * 4000, "dDurationMs": 4000, "segs": [{"utf8": cue}]}
                for i, cue in enumerate(cues)
            ]
            return web.json_response({"wireMagic": "pb3", "events": events})
        body = "".join(f'<text start="{i * 4}" dur="4">{cue}</text>' for i, cue in enumerate(cues))
        return web.Response(
            text=f'<?xml version="1.0" encoding="utf-8" ?><transcript>{body}</transcript>',
            content_type="text/xml",
        )

    async def next(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
            client = body["context"]["client"]
        except (ValueError, KeyError, TypeError):
            client = None
        if (
            not isinstance(client, dict)
            or client.get("clientName") != "WEB"
            or not client.get("clientVersion")
        ):
            return _refused("Precondition check failed.", "FAILED_PRECONDITION")
        if "videoId" in body:
            return web.json_response(self._section(str(body["videoId"])))
        state = _untoken(str(body.get("continuation") or ""))
        if state is None or not _VIDEO_ID.fullmatch(str(state.get("v", ""))):
            return _refused("Request contains an invalid argument.", "INVALID_ARGUMENT")
        self.sandbox.record_fetch(f"comments:{body['continuation']}")
        if state.get("t") is not None:
            return web.json_response(self._replies(state["v"], int(state["t"]), int(state.get("o", 0))))
        return web.json_response(
            self._threads(state["v"], str(state.get("s", "top")), int(state.get("o", 0)))
        )

    def _section(self, video_id: str) -> dict[str, Any]:
        contents: list[dict[str, Any]] = []
        if refusal(video_id) is None:
            contents = [_continuation(_token(v=video_id, s="top", o=0))]
        return {
            "contents": {
                "twoColumnWatchNextResults": {
                    "results": {
                        "results": {
                            "contents": [
                                {
                                    "itemSectionRenderer": {
                                        "contents": contents,
                                        "sectionIdentifier": "comment-item-section",
                                    }
                                }
                            ]
                        }
                    }
                }
            }
        }

    def _order(self, v: dict[str, Any], sort: str) -> list[int]:
        threads = list(range(len(v["replies"])))
        if sort == "new":
            # newest first, the pinned comment (thread 0) repeated at the top as YouTube does
            threads = threads[::-1]
            if v["pinned"]:
                threads.remove(0)
                threads.insert(0, 0)
        return threads

    def _threads(self, video_id: str, sort: str, offset: int) -> dict[str, Any]:
        v = video(self.seed, video_id)
        order = self._order(v, sort)
        page = order[offset : offset + THREADS_PER_PAGE]
        items: list[dict[str, Any]] = []
        mutations: list[dict[str, Any]] = []
        for thread in page:
            key = f"{video_id}.{thread}"
            view: dict[str, Any] = {
                "commentKey": f"ck-{key}",
                "toolbarStateKey": f"ts-{key}",
                "commentId": _comment_id(video_id, thread),
            }
            if thread == 0 and v["pinned"]:
                view["pinnedText"] = f"Pinned by {v['handle']}"
            entry: dict[str, Any] = {"commentViewModel": {"commentViewModel": view}}
            if v["replies"][thread]:
                entry["replies"] = {
                    "commentRepliesRenderer": {
                        "contents": [_continuation(_token(v=video_id, t=thread, o=0), button=True)]
                    }
                }
            items.append({"commentThreadRenderer": entry})
            mutations += self._entities(v, key, _comment_id(video_id, thread), thread, v["replies"][thread])
        if offset + THREADS_PER_PAGE < len(order):
            items.append(_continuation(_token(v=video_id, s=sort, o=offset + THREADS_PER_PAGE)))
        endpoints: list[dict[str, Any]] = []
        if offset == 0:
            shown = len(v["replies"]) + sum(v["replies"])
            header = {
                "commentsHeaderRenderer": {
                    "countText": {"runs": [{"text": f"{shown:,}"}, {"text": " Comments"}]},
                    "sortMenu": {
                        "sortFilterSubMenuRenderer": {
                            "subMenuItems": [
                                {
                                    "title": title,
                                    "selected": key == sort,
                                    "serviceEndpoint": {
                                        "continuationCommand": {"token": _token(v=video_id, s=key, o=0)}
                                    },
                                }
                                for key, title in (("top", "Top"), ("new", "Newest"))
                            ]
                        }
                    },
                }
            }
            endpoints.append({"reloadContinuationItemsCommand": {"continuationItems": [header]}})
            endpoints.append({"reloadContinuationItemsCommand": {"continuationItems": items}})
        else:
            endpoints.append({"appendContinuationItemsAction": {"continuationItems": items}})
        return {
            "onResponseReceivedEndpoints": endpoints,
            "frameworkUpdates": {"entityBatchUpdate": {"mutations": mutations}},
        }

    def _replies(self, video_id: str, thread: int, offset: int) -> dict[str, Any]:
        v = video(self.seed, video_id)
        total = v["replies"][thread] if 0 <= thread < len(v["replies"]) else 0
        items: list[dict[str, Any]] = []
        mutations: list[dict[str, Any]] = []
        for reply in range(offset, min(total, offset + REPLIES_PER_PAGE)):
            key = f"{video_id}.{thread}.{reply}"
            comment_id = f"{_comment_id(video_id, thread)}.{stable.digest(self.seed, 'reply', key, 12)}"
            items.append(
                {
                    "commentViewModel": {
                        "commentKey": f"ck-{key}",
                        "toolbarStateKey": f"ts-{key}",
                        "commentId": comment_id,
                    }
                }
            )
            mutations += self._entities(v, key, comment_id, None, 0)
        if offset + REPLIES_PER_PAGE < total:
            items.append(
                _continuation(_token(v=video_id, t=thread, o=offset + REPLIES_PER_PAGE), button=True)
            )
        return {
            "onResponseReceivedEndpoints": [{"appendContinuationItemsAction": {"continuationItems": items}}],
            "frameworkUpdates": {"entityBatchUpdate": {"mutations": mutations}},
        }

    def _entities(
        self, v: dict[str, Any], key: str, comment_id: str, thread: int | None, replies: int
    ) -> list[dict[str, Any]]:
        r = stable.rng(self.seed, "comment", key)
        by_creator = thread == 0 and v["pinned"]
        name = v["handle"] if by_creator else f"@{r.choice(stable.NAMES).lower()}{r.randrange(100, 999)}"
        likes = r.randrange(0, 3000)
        comment = {
            "commentEntityPayload": {
                "key": f"ck-{key}",
                "properties": {
                    "commentId": comment_id,
                    "content": {"content": stable.sentence(r, r.randrange(4, 20))},
                    "publishedTime": f"{r.randrange(1, 11)} {r.choice(('days', 'months', 'years'))} ago",
                    "replyLevel": 0 if thread is not None else 1,
                },
                "author": {
                    "channelId": "UC" + stable.digest(self.seed, "author", name, 22),
                    "displayName": name,
                    "isCreator": by_creator,
                },
                "toolbar": {
                    "likeCountNotliked": f"{likes / 1000:.1f}K"
                    if likes >= 1000
                    else (str(likes) if likes else ""),
                    "replyCount": str(replies) if replies else "",
                },
            }
        }
        hearted = thread is not None and thread in v["hearted"]
        state = {
            "engagementToolbarStateEntityPayload": {
                "key": f"ts-{key}",
                "heartState": "TOOLBAR_HEART_STATE_HEARTED" if hearted else "TOOLBAR_HEART_STATE_UNHEARTED",
            }
        }
        return [{"entityKey": f"ck-{key}", "payload": comment}, {"entityKey": f"ts-{key}", "payload": state}]


def _refused(message: str, status: str) -> web.Response:
    """Innertube's 400, in its own shape."""
    return web.json_response({"error": {"code": 400, "message": message, "status": status}}, status=400)


def _comment_id(video_id: str, thread: int) -> str:
    return "Ugx" + base64.urlsafe_b64encode(f"{video_id}:{thread}".encode()).decode().rstrip("=")


def _continuation(token: str, *, button: bool = False) -> dict[str, Any]:
    command = {"continuationCommand": {"token": token, "request": "CONTINUATION_REQUEST_TYPE_WATCH_NEXT"}}
    if button:
        return {"continuationItemRenderer": {"button": {"buttonRenderer": {"command": command}}}}
    return {
        "continuationItemRenderer": {
            "trigger": "CONTINUATION_TRIGGER_ON_ITEM_SHOWN",
            "continuationEndpoint": command,
        }
    }


_CONSENT = (
    '<!DOCTYPE html><html lang="en"><head><title>Before you continue to YouTube</title></head><body>'
    '<form action="https://consent.youtube.com/save" method="POST"><input type="hidden" name="gl" value="DE">'
    "<button>Reject all</button><button>Accept all</button></form></body></html>"
)


def register(sandbox: Sandbox) -> None:
    site = YouTubeSite(sandbox)
    sandbox.add_site(
        HOSTS,
        [
            Route("GET", re.compile(r"/watch/?"), site.watch, "/watch"),
            Route("GET", re.compile(r"/api/timedtext/?"), site.timedtext, "/api/timedtext"),
            Route(
                "POST",
                re.compile(r"/youtubei/v1/next/?"),
                site.next,
                "/youtubei/v1/next",
                site="youtube_comments",
            ),
        ],
        name="youtube",
    )
    sandbox.add_site(
        ("youtu.be",),
        [Route("GET", re.compile(r"/(?P<id>[A-Za-z0-9_-]{11})/?"), site.short, "/ID")],
        name="youtube",
    )
