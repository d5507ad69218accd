"""Bilibili, as `links` sees it: the `x/web-interface/view` API and `b23.tv` short links.

- ``GET https://api.bilibili.com/x/web-interface/view?bvid=BV...``: the ``{code, message, ttl,
  data}`` envelope, ``data`` shaped like the real recording's ``videoData`` (bvid, aid, cid,
  title, desc, pubdate, duration, owner, pages, stat). Without a bilibili.com ``Referer`` it is
  risk control (-352), as the real API answers bare scripts.
- ``GET https://b23.tv/CODE``: 302 to the video page ``www.bilibili.com/video/BV...``.

Any ``BV`` + 10 characters is a video. Reserved prefixes: ``BV1404`` (-404 not found),
``BV1hid`` (62002 hidden), ``BV1rev`` (62004 under review), ``BV1own`` (62012 uploader only),
``BV1rsk`` (-412 risk control for its first 2 asks, then the video), ``BV1412`` (HTTP 412 for
its first 2 asks). ``--bilibili-risk-rate`` answers that share of asks with -352.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import Counter
from typing import Any

from aiohttp import web

from . import stable
from .server import Route, Sandbox

API_HOSTS = ("api.bilibili.com",)
SHORT_HOSTS = ("b23.tv",)
_BVID = re.compile(r"BV[0-9A-Za-z]{10}")
FINAL = {
    "BV1404": (-404, "啥都木有"),
    "BV1hid": (62002, "稿件不可见"),
    "BV1rev": (62004, "稿件审核中"),
    "BV1own": (62012, "仅UP主自己可见"),
}
RISK_TIMES = 2  # how often BV1rsk... and BV1412... are refused before they answer


def short_target(code: str) -> str:
    """The BV id a b23.tv code stands for."""
    return "BV1" + hashlib.blake2b(code.encode(), digest_size=8).hexdigest()[:9]


def video_data(seed: int, bvid: str) -> dict[str, Any]:
    r = stable.rng(seed, "bilibili", bvid)
    aid = int(hashlib.blake2b(bvid.encode(), digest_size=5).hexdigest(), 16)
    parts = r.choice((1, 1, 1, 2, 4))
    pages = [
        {"cid": aid * 10 + i, "page": i, "part": stable.words(r, 3), "duration": r.randrange(60, 1800)}
        for i in range(1, parts + 1)
    ]
    owner = r.choice(stable.NAMES)
    stat = {
        "aid": aid,
        "view": r.randrange(100, 3_000_000),
        "danmaku": r.randrange(0, 20_000),
        "reply": r.randrange(0, 8_000),
        "favorite": r.randrange(0, 50_000),
        "coin": r.randrange(0, 40_000),
        "share": r.randrange(0, 9_000),
        "like": r.randrange(0, 120_000),
        "now_rank": 0,
        "his_rank": 0,
    }
    return {
        "bvid": bvid,
        "aid": aid,
        "videos": parts,
        "tid": 17,
        "copyright": 1,
        "pic": f"http://i0.hdslb.com/bfs/archive/{hashlib.md5(bvid.encode()).hexdigest()}.jpg",
        "title": stable.sentence(r, 5)[:-1],
        "pubdate": 1_500_000_000 + r.randrange(200_000_000),
        "ctime": 1_500_000_000,
        "desc": "\n".join(stable.sentence(r) for _ in range(2)),
        "duration": sum(p["duration"] for p in pages),
        "owner": {"mid": int(hashlib.blake2b(owner.encode(), digest_size=4).hexdigest(), 16), "name": owner},
        "stat": stat,
        "cid": pages[0]["cid"],
        "pages": pages,
    }


class BilibiliSite:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.asked: Counter[str] = Counter()

    async def view(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        bvid = request.query.get("bvid", "")
        if not _BVID.fullmatch(bvid):
            return _envelope(-400, "请求错误")
        self.asked[bvid] += 1
        if bvid.startswith("BV1412") and self.asked[bvid] <= RISK_TIMES:
            return web.Response(
                status=412, text="<html><body>412 Precondition Failed</body></html>", content_type="text/html"
            )
        if bvid.startswith("BV1rsk") and self.asked[bvid] <= RISK_TIMES:
            return _envelope(-412, "请求被拦截")
        referer = request.headers.get("Referer", "")
        if "bilibili.com" not in referer or self.sandbox.chance(self.sandbox.knobs.bilibili_risk_rate):
            return _envelope(-352, "风控校验失败")
        for prefix, (code, message) in FINAL.items():
            if bvid.startswith(prefix):
                return _envelope(code, message)
        self.sandbox.record_fetch(f"bilibili:{bvid}")
        return _envelope(0, "0", video_data(self.sandbox.knobs.seed, bvid))

    async def short(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        target = f"https://www.bilibili.com/video/{short_target(match['code'])}?share_source=copy_web"
        raise web.HTTPFound(target)


def _envelope(code: int, message: str, data: Any = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message, "ttl": 1}
    if data is not None:
        body["data"] = data
    return web.json_response(body, dumps=functools.partial(json.dumps, ensure_ascii=False))


def register(sandbox: Sandbox) -> None:
    site = BilibiliSite(sandbox)
    sandbox.add_site(
        API_HOSTS,
        [Route("GET", re.compile(r"/x/web-interface/view/?"), site.view, "/x/web-interface/view")],
        name="bilibili",
    )
    sandbox.add_site(
        SHORT_HOSTS,
        [Route("GET", re.compile(r"/(?P<code>[0-9A-Za-z]{4,12})/?"), site.short, "/CODE")],
        name="bilibili",
    )
