"""YouTube comments, through the innertube `next` API the watch page itself calls.

The first `next` call (the video id, with the page's INNERTUBE_CONTEXT) answers with the comments
section's continuation token; each later call sends a token and gets a page: its header (the
count the page shows, the sort menu: Top or Newest, each with its own token), comment threads
(each pointing at its entity by key; a thread's replies have their own token), and the next
page's token. A comment's text, author, likes, reply count and time are entities in
`frameworkUpdates.entityBatchUpdate.mutations`; whether the creator hearted it is its toolbar's
state entity.
"""

from __future__ import annotations

import json
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from crawler.items import CommentsFetched, YouTubeComment
from crawler.parsers import MalformedResponse
from crawler.sites import Answer, Fetch, Link, Options, Step, youtube

NEXT_URL = "https://www.youtube.com/youtubei/v1/next?prettyPrint=false"
SORTS = {"top": "Top", "new": "Newest"}


@dataclass
class CommentsPage:
    comments: list[YouTubeComment] = field(default_factory=list)
    count_shown: int | None = None  # "7 Comments" in the header, on a section's first page
    sort_tokens: dict[str, str] = field(default_factory=dict)  # "top"/"new" -> its token
    next_token: str | None = None  # the next page of the same list
    reply_tokens: dict[str, str] = field(default_factory=dict)  # comment id -> its replies' token


def next_body(context: dict[str, Any], *, video_id: str | None = None, token: str | None = None) -> bytes:
    """The `next` call's JSON body: the page's client context and a video id or a token."""
    body: dict[str, Any] = {"context": context}
    if token is not None:
        body["continuation"] = token
    else:
        body["videoId"] = video_id
    return json.dumps(body, separators=(",", ":")).encode()


def innertube_context(html: str) -> dict[str, Any] | None:
    """The watch page's INNERTUBE_CONTEXT (its `ytcfg.set({...})`), which `next` wants back."""
    for match in re.finditer(r"ytcfg\.set\(\s*(\{)", html):
        try:
            config, _ = json.JSONDecoder().raw_decode(html, match.start(1))
        except ValueError:
            continue
        if isinstance(config, dict) and isinstance(config.get("INNERTUBE_CONTEXT"), dict):
            return config["INNERTUBE_CONTEXT"]
    return None


def section_token(answer: bytes | str) -> str | None:
    """The comments section's first token, from the first `next` answer (the one by video id)."""
    data = _load(answer)
    for section in _find(data, "itemSectionRenderer"):
        if section.get("sectionIdentifier") == "comment-item-section":
            for item in section.get("contents") or []:
                token = _token(item.get("continuationItemRenderer"))
                if token:
                    return token
    return None


def parse_page(answer: bytes | str, video_id: str, parent_id: str | None = None) -> CommentsPage:
    """A comments page (a section's, or a thread's replies when `parent_id` is given)."""
    data = _load(answer)
    mutations = ((data.get("frameworkUpdates") or {}).get("entityBatchUpdate") or {}).get("mutations") or []
    entities: dict[str, dict[str, Any]] = {
        str(m.get("entityKey")): m.get("payload") or {} for m in mutations if isinstance(m, dict)
    }
    page = CommentsPage()
    for endpoint in data.get("onResponseReceivedEndpoints") or []:
        for action in endpoint.values():
            if not isinstance(action, dict):
                continue
            for item in action.get("continuationItems") or []:
                _item(item, video_id, parent_id, entities, page)
    return page


def _item(
    item: dict[str, Any], video_id: str, parent_id: str | None, entities: dict, page: CommentsPage
) -> None:
    if "commentsHeaderRenderer" in item:
        header = item["commentsHeaderRenderer"]
        page.count_shown = _count(_text(header.get("countText")) or _text(header.get("commentsCount")))
        menu = (header.get("sortMenu") or {}).get("sortFilterSubMenuRenderer") or {}
        for choice in menu.get("subMenuItems") or []:
            token = ((choice.get("serviceEndpoint") or {}).get("continuationCommand") or {}).get("token")
            for sort, title in SORTS.items():
                if choice.get("title") == title and token:
                    page.sort_tokens[sort] = token
    elif "commentThreadRenderer" in item:
        thread = item["commentThreadRenderer"]
        view = (thread.get("commentViewModel") or {}).get("commentViewModel") or {}
        comment = _comment(view, video_id, parent_id, entities)
        if comment is not None:
            page.comments.append(comment)
            replies = (thread.get("replies") or {}).get("commentRepliesRenderer") or {}
            for entry in replies.get("contents") or []:
                token = _token(entry.get("continuationItemRenderer"))
                if token:
                    page.reply_tokens[comment.id] = token
    elif "commentViewModel" in item:  # a reply, in a replies page
        comment = _comment(item["commentViewModel"], video_id, parent_id, entities)
        if comment is not None:
            page.comments.append(comment)
    elif "continuationItemRenderer" in item:
        page.next_token = _token(item["continuationItemRenderer"]) or page.next_token


def _comment(
    view: dict[str, Any], video_id: str, parent_id: str | None, entities: dict
) -> YouTubeComment | None:
    entity = (entities.get(view.get("commentKey")) or {}).get("commentEntityPayload")
    if not entity:
        return None  # a thread whose entity the answer did not carry
    props, author, toolbar = (
        entity.get("properties") or {},
        entity.get("author") or {},
        entity.get("toolbar") or {},
    )
    state = (entities.get(view.get("toolbarStateKey")) or {}).get("engagementToolbarStateEntityPayload") or {}
    return YouTubeComment(
        id=str(props.get("commentId") or view.get("commentId")),
        video_id=video_id,
        parent_id=parent_id,
        author=str(author.get("displayName") or ""),
        author_channel_id=author.get("channelId"),
        text=str((props.get("content") or {}).get("content") or ""),
        likes=_count(str(toolbar.get("likeCountNotliked") or "0")) or 0,
        reply_count=_count(str(toolbar.get("replyCount") or "0")) or 0,
        published=str(props.get("publishedTime") or ""),
        pinned=bool(view.get("pinnedText")),
        hearted=state.get("heartState") == "TOOLBAR_HEART_STATE_HEARTED",
        by_creator=bool(author.get("isCreator")),
    )


def _load(answer: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(answer)
    except ValueError as exc:
        raise MalformedResponse(f"not an innertube answer ({exc})") from None
    if not isinstance(data, dict):
        raise MalformedResponse("not an innertube answer")
    return data


def _find(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if isinstance(value.get(key), dict):
            yield value[key]
        for item in value.values():
            yield from _find(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _find(item, key)


def _token(renderer: Any) -> str | None:
    if not isinstance(renderer, dict):
        return None
    endpoint = renderer.get("continuationEndpoint") or (renderer.get("button") or {}).get(
        "buttonRenderer", {}
    ).get("command")
    return ((endpoint or {}).get("continuationCommand") or {}).get("token")


def _text(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    return str(value.get("simpleText") or "".join(str(r.get("text", "")) for r in value.get("runs") or []))


def _count(text: str) -> int | None:
    """ "7 Comments", "1,234", "1.2K", "3M" -> a number (a K or M count is as precise as shown)."""
    match = re.search(r"([\d.,]+)\s*([KM]?)", text.replace("\u00a0", " "))
    if not match:
        return None
    number = float(match.group(1).replace(",", ""))
    return int(number * {"": 1, "K": 1_000, "M": 1_000_000}[match.group(2)])


class CommentsFlow:
    """A video's comments: its watch page (the client context, the count shown), the `next`
    call by video id (the section's token), then page after page, each thread's replies before
    the next page, in the order asked (the section opens sorted by Top), up to max_comments."""

    def __init__(self, options: Options) -> None:
        self.options = options

    def start(self, link: Link, url: str, state: dict[str, Any]) -> Fetch:
        state.update(video_id=link.id or "", fetched=0, seen=set(), tokens=deque(), shown=None)
        return Fetch(youtube.watch_url(link.id or ""), cookies=youtube.CONSENT_COOKIE, note={"step": "watch"})

    def step(self, answer: Answer, state: dict[str, Any]) -> Step:
        step = answer.note["step"]
        if step == "watch":
            video = youtube.watched(answer)
            context = innertube_context(answer.text or "")
            if context is None:
                raise MalformedResponse("a watch page without its INNERTUBE_CONTEXT")
            state.update(context=context, shown=video.comment_count)
            return Step(next=self._next(state, video_id=video.id, step="section"))
        if step == "section":
            token = section_token(answer.body)
            if token is None or self.options.max_comments == 0:  # comments off, or none asked
                return self._done(state, [])
            return Step(next=self._next(state, token=token))
        return self._page(answer, state)

    def _page(self, answer: Answer, state: dict[str, Any]) -> Step:
        parent = answer.note.get("parent")
        page = parse_page(answer.body, state["video_id"], parent)
        if page.count_shown is not None and parent is None:
            state["shown"] = page.count_shown
        if parent is None and "sorted" not in state and page.sort_tokens:
            state["sorted"] = True
            wanted = self.options.sort
            if wanted != "top" and wanted in page.sort_tokens:
                return Step(next=self._next(state, token=page.sort_tokens[wanted]))
        comments = []
        for comment in page.comments:
            if state["fetched"] >= self.options.max_comments:
                break
            if comment.id in state["seen"]:  # the pinned comment comes again in Newest order
                continue
            state["seen"].add(comment.id)
            state["fetched"] += 1
            comments.append(comment)
        tokens: deque[tuple[str, str | None]] = state["tokens"]
        for comment_id, token in page.reply_tokens.items():  # a thread's replies before the next page
            tokens.appendleft((token, comment_id))
        if page.next_token:
            if parent:
                tokens.appendleft((page.next_token, parent))
            else:
                tokens.append((page.next_token, None))
        if tokens and state["fetched"] < self.options.max_comments:
            token, of = tokens.popleft()
            return Step(comments, next=self._next(state, token=token, parent=of))
        return self._done(state, comments)

    def _next(
        self, state: dict[str, Any], *, video_id: str | None = None, token: str | None = None,
        step: str = "page", parent: str | None = None,
    ) -> Fetch:  # fmt: skip
        context = state["context"]
        client = context.get("client") or {}
        return Fetch(
            NEXT_URL,
            method="POST",
            body=next_body(context, video_id=video_id, token=token),
            headers={
                "Content-Type": "application/json",
                "X-Youtube-Client-Name": "1",
                "X-Youtube-Client-Version": str(client.get("clientVersion") or ""),
            },
            cookies=youtube.CONSENT_COOKIE,
            accept=(),
            note={"step": step, "parent": parent},
        )

    def _done(self, state: dict[str, Any], comments: list[YouTubeComment]) -> Step:
        video_id = state["video_id"]
        fetched = CommentsFetched(
            video_id, youtube.watch_url(video_id), self.options.sort, state["shown"], state["fetched"]
        )
        return Step([*comments, fetched], result=f"youtube_comments:{video_id}")
