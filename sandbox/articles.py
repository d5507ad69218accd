"""The open web, as `links` sees it: any host no other site claims serves articles.

- ``GET /any/path``: a news or blog article generated from its host and path (title, author,
  publication date, site name, language, paragraphs) inside the usual boilerplate (menu,
  subscription banner, related links, cookie and copyright footer). Its charset varies by URL,
  as the web's does: UTF-8 in the header, windows-1252 declared only in a ``<meta>`` tag, or
  ISO-8859-15 in the header.
- a path ending ``.pdf`` answers a PDF, ``.jpg`` a JPEG: not articles.
- a path starting ``/404`` answers 404; ``/go?to=URL`` redirects (302) to URL, as link shorteners
  and trackers do.
"""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

from aiohttp import web

from . import stable
from .server import Route, Sandbox

CHARSETS = ("utf-8", "windows-1252", "iso-8859-15")
LANGUAGES = ("en", "de", "fr")
# a minimal, valid one-page PDF
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def article(seed: int, host: str, path: str) -> dict[str, object]:
    """What the sandbox's article at host+path says: the same in every run."""
    key = f"{host}{path}"
    r = stable.rng(seed, "article", key)
    site = host.removeprefix("www.").split(".")[0].capitalize()
    return {
        "title": stable.sentence(r, 7)[:-1],
        "author": f"{r.choice(stable.NAMES)} {r.choice(('Meyer', 'Laurent', 'Okafor', 'Lindqvist'))}",
        "date": (date(2018, 1, 1) + timedelta(days=r.randrange(2500))).isoformat(),
        "site": f"The {site} Courier",
        "language": LANGUAGES[int(stable.fraction(seed, "article-lang", key) * len(LANGUAGES))],
        "charset": CHARSETS[int(stable.fraction(seed, "article-charset", key) * len(CHARSETS))],
        # a word only windows-1252 and ISO-8859-15 both encode, so every charset is exercised
        "paragraphs": [
            f"{stable.sentence(r, r.randrange(25, 60))} Caf\u00e9 cr\u00e8me."
            for _ in range(r.randrange(3, 9))
        ],
    }


def page(a: dict[str, object]) -> str:
    e = html.escape
    paragraphs = "".join(f"<p>{e(p)}</p>\n" for p in a["paragraphs"])  # type: ignore[attr-defined]
    meta_charset = f'<meta http-equiv="Content-Type" content="text/html; charset={a["charset"]}">'
    return (
        f'<!DOCTYPE html>\n<html lang="{a["language"]}">\n<head>\n{meta_charset}\n'
        f"<title>{e(str(a['title']))} | {e(str(a['site']))}</title>\n"
        f'<meta property="og:site_name" content="{e(str(a["site"]))}">\n'
        f'<meta property="og:title" content="{e(str(a["title"]))}">\n'
        f'<meta name="author" content="{e(str(a["author"]))}">\n'
        f'<meta property="article:published_time" content="{a["date"]}T08:00:00+00:00">\n'
        "</head>\n<body>\n"
        '<header><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a> '
        '<a href="/subscribe">Subscribe now for unlimited access</a></nav></header>\n'
        f"<main><article>\n<h1>{e(str(a['title']))}</h1>\n"
        f'<p class="byline">By <span class="author">{e(str(a["author"]))}</span>, '
        f'<time datetime="{a["date"]}">{a["date"]}</time></p>\n'
        f"{paragraphs}</article></main>\n"
        '<aside><h2>Read next</h2><ul><li><a href="/a">More from our newsroom</a></li>'
        '<li><a href="/b">Most read this week</a></li></ul></aside>\n'
        "<footer><p>We use cookies to improve your experience.</p>"
        f"<p>&copy; {str(a['date'])[:4]} {e(str(a['site']))}. All rights reserved.</p></footer>\n"
        "</body>\n</html>\n"
    )


class ArticleSite:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def any_page(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        host = (request.headers.get("X-Forwarded-Host") or request.host).split(":")[0].lower()
        path = request.path
        if path == "/go":
            target = request.query.get("to", "")
            if not target:
                return web.Response(status=400, text="go where?\n")
            raise web.HTTPFound(target)
        if path.startswith("/404"):
            return web.Response(
                status=404, text="<html><body><h1>Page not found</h1></body></html>", content_type="text/html"
            )
        self.sandbox.record_fetch(f"article:{host}{path}")
        if path.lower().endswith(".pdf"):
            return web.Response(body=PDF, content_type="application/pdf")
        if path.lower().endswith((".jpg", ".jpeg")):
            return web.Response(body=JPEG, content_type="image/jpeg")
        a = article(self.sandbox.knobs.seed, host, path)
        charset = str(a["charset"])
        body = page(a).encode(charset)
        if charset == "windows-1252":
            # declared only in the page's <meta>: the client must read it from there
            return web.Response(body=body, headers={"Content-Type": "text/html"})
        return web.Response(body=body, content_type="text/html", charset=charset)


def register(sandbox: Sandbox) -> None:
    site = ArticleSite(sandbox)
    sandbox.add_default_site("article", [Route("GET", re.compile(r"/.*"), site.any_page, "/*")])
