"""Articles: any other http(s) page, read as a news or blog article by trafilatura.

Why trafilatura: it leads both public extraction benchmarks (F1 0.924 on its own 990 pages,
0.958 on scrapinghub's; readability-lxml and goose3 trail by 0.04-0.1). It gets decoded text,
never bytes: on bytes it ignores the page's `<meta charset>` (trafilatura issue 231), while
Scrapy's TextResponse has already honoured the header, the BOM and the meta tag. On the 45 real
pages in ../shared/fixtures/real/articles it keeps every wanted snippet and drops every
boilerplate one on 27 (60%); the README gives the figure and tests/sites/test_articles.py lists
the pages it misses.
"""

from __future__ import annotations

import re
from typing import Any

import trafilatura
from parsel import Selector

from crawler.items import Article
from crawler.sites import Answer, Fetch, Link, LinkFailed, Options, Refused, Step

HTML_TYPES = ("text/html", "application/xhtml+xml")
_LOWER = "translate(@http-equiv, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


def refuse_content_type(content_type: str | None) -> Refused | None:
    """A failure naming the content type when an answer is not an HTML page (a PDF, an image,
    a binary), None when it is one. A missing Content-Type is given the benefit of the doubt."""
    if not content_type:
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media in HTML_TYPES:
        return None
    return Refused(f"not an HTML page: the server says it is {media or content_type!r}")


def parse_article(url: str, html: str, *, content_language: str | None = None) -> Article | Refused:
    """A page's decoded text -> its article, or why it has none. `content_language` is the
    answer's Content-Language header, used when the page itself declares no language."""
    document = trafilatura.bare_extraction(
        html, url=url, with_metadata=True, include_comments=False, include_tables=True
    )
    if not isinstance(document, trafilatura.settings.Document):
        return Refused("no article text found on the page")
    text = (document.text or "").strip()
    if not text:
        return Refused("no article text found on the page")
    return Article(
        url=url,
        title=document.title or None,
        author=document.author or None,
        date=document.date or None,
        site_name=document.sitename or None,
        language=declared_language(html) or _language(content_language),
        text=text,
    )


def declared_language(html: str) -> str | None:
    """The language a page declares: `<html lang>`, else its Content-Language meta, else its
    `og:locale` (trafilatura only guesses a language with an extra model we do not install)."""
    page = Selector(text=html)
    for found in (
        page.xpath("/html/@lang").get(),
        page.xpath("/html/@xml:lang").get(),
        page.xpath(f"//meta[{_LOWER}='content-language']/@content").get(),
        page.xpath("//meta[@property='og:locale']/@content").get(),
    ):
        language = _language(found)
        if language:
            return language
    return None


def _language(value: str | None) -> str | None:
    value = (value or "").split(",")[0].strip()
    return value.replace("_", "-") if _LANGUAGE.fullmatch(value) else None


class ArticleFlow:
    """A page, redirects followed (each hop checked by the spider's address guard), read as an
    article when it is HTML."""

    def __init__(self, options: Options) -> None:
        self.options = options

    def start(self, link: Link, url: str, state: dict[str, Any]) -> Fetch:
        return Fetch(url, accept=())

    def step(self, answer: Answer, state: dict[str, Any]) -> Step:
        refused = refuse_content_type(answer.headers.get("content-type"))
        if refused is None and answer.text is None:
            refused = Refused("not a text answer")
        if refused is not None:
            raise LinkFailed(f"{refused.reason} ({answer.url})")
        article = parse_article(
            answer.url, answer.text or "", content_language=answer.headers.get("content-language")
        )
        if isinstance(article, Refused):
            raise LinkFailed(f"{article.reason} ({answer.url})")
        return Step([article], result=f"article:{article.url}")
