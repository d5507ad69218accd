"""Articles: decoded text -> main text and metadata, through trafilatura; non-HTML answers
refused by their content type. On our own page and on the 45 real pages, where each page must
hold every wanted snippet and none of the boilerplate ones."""

from __future__ import annotations

import json
import re

import pytest
from scrapy.http import HtmlResponse

from crawler.items import Article
from crawler.sites import Refused
from crawler.sites.articles import declared_language, parse_article, refuse_content_type
from tests.conftest import FIXTURES, REAL_FIXTURES, needs_real_fixtures

OWN = FIXTURES / "articles"
REAL = REAL_FIXTURES / "articles"

# The real pages trafilatura 2.3.1 misses (a wanted snippet left out, or boilerplate kept):
# 18 of 45 (27 pass: 60%). Listed so that the share is a measured fact the suite checks both ways (a page
# that starts passing fails its xfail, strict, and the list is updated with the figure).
MISSED = {
    "resonator-podcast.de.res158.html",
    "rheinruhronline.de.essenwestviertel.html",
    "rent-a-salesman.eu.auslagern.html",
    "creativecommons.ch.wie.html",
    "aoc.media.archaisme.html",
    "eatwhattonight.com.stir.html",
    "popsugar.co.uk.halloween.html",
    "Sprzeciw wobec ataków na Fundację Lux Veritatis \u2013 RadioMaryja.pl.html",
    "houzz.de-Projekte.html",
    "blinker.de-Rostock.html",
    "evref.ch-ökumene.html",
    "haustiermagazin.com-katzenspielzeug.html",
    "refinery29.com.single.html",
    "elmostrador.cl-congreso.html",
    "ladiaria.com.uy-productor.html",
    "hpd.de-Homosexuellenhass.html",
    "breakingbelizenews.com-paho.html",
    "searchlight.vc-dimond.html",
}


def _spaced(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_a_page_declaring_its_charset_only_in_a_meta_tag() -> None:
    # no charset in the HTTP header: Scrapy reads the meta tag, and trafilatura gets its text
    response = HtmlResponse("https://gazette.example/cafe", body=(OWN / "cafe_windows1252.html").read_bytes())
    article = parse_article(response.url, response.text)
    assert isinstance(article, Article)
    assert article.title == "Le café du port ferme ses portes"
    assert (article.author, article.date, article.site_name) == (
        "Élodie Marchand",
        "2024-03-08",
        "La Gazette du Quai",
    )
    assert article.language == "fr"
    assert "le café du port a servi son dernier crème mardi soir" in article.text
    assert "Un appel à candidatures sera publié" in article.text
    for boilerplate in ("Abonnez-vous", "Tous droits réservés", "Mentions légales", "À lire aussi"):
        assert boilerplate not in article.text


def test_a_page_without_an_article() -> None:
    # a JavaScript application's shell: nothing to read before its scripts run
    shell = (
        '<html><head><title>App</title></head><body><div id="root"></div><script src="/app.js"></script>'
        "</body></html>"
    )
    assert parse_article("https://x.example/", shell) == Refused("no article text found on the page")


@pytest.mark.parametrize(
    ("content_type", "refused"),
    [
        ("text/html; charset=utf-8", None),
        ("application/xhtml+xml", None),
        (None, None),
        ("application/pdf", "not an HTML page: the server says it is 'application/pdf'"),
        ("IMAGE/JPEG", "not an HTML page: the server says it is 'image/jpeg'"),
        ("application/octet-stream", "not an HTML page: the server says it is 'application/octet-stream'"),
    ],
)
def test_what_is_not_a_page_is_refused_by_its_content_type(
    content_type: str | None, refused: str | None
) -> None:
    assert refuse_content_type(content_type) == (Refused(refused) if refused else None)


def test_the_declared_language() -> None:
    assert declared_language('<html lang="de-DE"><body>x</body></html>') == "de-DE"
    meta = '<html><head><meta http-equiv="Content-Language" content="es"></head></html>'
    assert declared_language(meta) == "es"
    assert (
        declared_language('<html><head><meta property="og:locale" content="en_GB"></head></html>') == "en-GB"
    )
    assert declared_language('<html lang="{{ lang }}"><body></body></html>') is None
    article = parse_article(
        "https://x.example/a",
        (OWN / "cafe_windows1252.html").read_bytes().decode("cp1252").replace(' lang="fr"', ""),
        content_language="fr-BE",
    )
    assert isinstance(article, Article) and article.language == "fr-BE"


def _real_pages() -> list[tuple[str, dict]]:
    if not (REAL / "expected.json").is_file():
        return []
    return list(json.loads((REAL / "expected.json").read_text(encoding="utf-8")).items())


@needs_real_fixtures
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            url,
            expected,
            id=expected["file"],
            marks=[pytest.mark.xfail(strict=True, reason="trafilatura misses it")]
            if expected["file"] in MISSED
            else [],
        )
        for url, expected in _real_pages()
    ],
)
def test_real_pages(url: str, expected: dict) -> None:
    response = HtmlResponse(url, body=(REAL / expected["file"]).read_bytes())
    article = parse_article(url, response.text)
    assert isinstance(article, Article)
    text = _spaced(article.text)
    assert [s for s in expected["with"] if _spaced(s) not in text] == []
    assert [s for s in expected["without"] if _spaced(s) in text] == []
    if expected.get("title"):
        assert article.title
    assert article.language or expected["file"] in {
        "speicherguide.de.schwierige.html",
        "oekonomenstimme.org.keynes.html",
        "tour-magazin.de-unfall.html",
    }


@needs_real_fixtures
def test_real_pages_metadata_where_recorded() -> None:
    # the titles, authors and dates expected.json records, where trafilatura finds the same
    found = {"title": 0, "author": 0, "date": 0}
    asked = {"title": 0, "author": 0, "date": 0}
    for url, expected in _real_pages():
        article = parse_article(url, HtmlResponse(url, body=(REAL / expected["file"]).read_bytes()).text)
        assert isinstance(article, Article)
        for field in found:
            if expected.get(field):
                asked[field] += 1
                found[field] += getattr(article, field) == expected[field]
    # measured with trafilatura 2.3.1, exact matches: titles 24 of 40, authors 12 of 28, dates 28
    # of 35 (the misses are mostly a site name glued to the title, or a co-author more or less)
    assert (found, asked) == (
        {"title": 24, "author": 12, "date": 28},
        {"title": 40, "author": 28, "date": 35},
    )
