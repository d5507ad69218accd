"""The sandbox behaves like the real Pinterest: cookies, CSRF, not-found pins, 429s, images."""

from __future__ import annotations

import io
import json
import time

import pytest
import requests

from crawler.parsers.pinterest import parse_pin_resource, pin_resource_url, session_from_http

PINTEREST = {"X-Forwarded-Host": "www.pinterest.com"}


def _signed(url: str) -> tuple[requests.Session, dict[str, str]]:
    http = requests.Session()
    home = http.get(f"{url}/", headers=PINTEREST, timeout=10)
    assert home.status_code == 200
    session = session_from_http(home.text, dict(home.cookies))
    return http, {**PINTEREST, **session.headers()}


def test_home_page_sets_session_cookie_and_scripted_csrftoken(sandbox) -> None:
    home = requests.get(f"{sandbox.url}/", headers=PINTEREST, timeout=10)
    assert "_pinterest_sess" in home.cookies
    assert "csrftoken" not in home.cookies  # only the page's JavaScript sets it
    assert 'document.cookie="csrftoken="' in home.text


def test_pin_resource_needs_a_matching_csrf_header(sandbox) -> None:
    url = pin_resource_url(sandbox.url, "123")
    assert requests.get(url, headers=PINTEREST, timeout=10).status_code == 403
    http, headers = _signed(sandbox.url)
    forged = {**headers, "X-CSRFToken": "0" * 32}
    assert http.get(url, headers=forged, timeout=10).status_code == 403
    ok = http.get(url, headers=headers, timeout=10)
    assert ok.status_code == 200
    item = parse_pin_resource(ok.content, "123")
    assert item.board_name and item.image_url and item.saves is not None


def test_content_is_deterministic_per_id(sandbox) -> None:
    http, headers = _signed(sandbox.url)
    first = http.get(pin_resource_url(sandbox.url, "777"), headers=headers, timeout=10).json()
    again = http.get(pin_resource_url(sandbox.url, "777"), headers=headers, timeout=10).json()
    assert first["resource_response"]["data"] == again["resource_response"]["data"]


def test_a_page_a_site_does_not_have_is_not_found(sandbox) -> None:
    # (a host no site claims is the open web, where any article exists: tests/test_sandbox_links.py)
    resp = requests.get(f"{sandbox.url}/no/such/page", headers=PINTEREST, timeout=10)
    assert resp.status_code == 404


def test_missing_pins_answer_not_found_every_time(make_sandbox) -> None:
    sb = make_sandbox(missing_rate=0.5, seed=3)
    http, headers = _signed(sb.url)
    codes = {}
    for pin in range(1000, 1040):
        codes[pin] = http.get(pin_resource_url(sb.url, str(pin)), headers=headers, timeout=10).status_code
    assert set(codes.values()) == {200, 404}
    missing = [p for p, c in codes.items() if c == 404]
    again = http.get(pin_resource_url(sb.url, str(missing[0])), headers=headers, timeout=10)
    assert again.status_code == 404
    assert again.json()["resource_response"]["status"] == "failure"


def test_rate_limit_answers_429_with_retry_after(make_sandbox) -> None:
    sb = make_sandbox(rate_limit=5)
    http, headers = _signed(sb.url)
    codes = [http.get(pin_resource_url(sb.url, str(i)), headers=headers, timeout=10) for i in range(15)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited, "15 requests at once over a 5/s limit must be refused"
    assert int(limited[0].headers["Retry-After"]) >= 1
    time.sleep(1.2)
    assert http.get(pin_resource_url(sb.url, "1"), headers=headers, timeout=10).status_code == 200
    stats = sb.stats()
    assert stats["requests"]["www.pinterest.com /resource/PinResource/get/"]["429"] == len(limited)


def test_errors_and_truncation_knobs(make_sandbox) -> None:
    sb = make_sandbox(error_rate=0.3, truncate_rate=0.3, seed=1)
    http = requests.Session()
    # the home page may itself be a 500: retry it like a client would
    for _ in range(20):
        home = http.get(f"{sb.url}/", headers=PINTEREST, timeout=10)
        if home.ok:
            break
    session = session_from_http(home.text, dict(home.cookies))
    headers = {**PINTEREST, **session.headers()}
    statuses, truncated = [], 0
    for i in range(60):
        resp = http.get(pin_resource_url(sb.url, str(i)), headers=headers, timeout=10)
        statuses.append(resp.status_code)
        if resp.status_code == 200:
            try:
                json.loads(resp.content)
            except ValueError:
                truncated += 1
    assert 500 in statuses and 200 in statuses
    assert truncated > 0


def test_truncate_control_cuts_the_next_api_answers_of_a_route(make_sandbox) -> None:
    sb = make_sandbox()
    http, headers = _signed(sb.url)
    sb.truncate("/resource/PinResource/get/", 1)
    cut = http.get(pin_resource_url(sb.url, "7"), headers=headers, timeout=10)
    assert cut.status_code == 200 and int(cut.headers["Content-Length"]) == len(cut.content)
    with pytest.raises(ValueError):
        json.loads(cut.content)
    whole = http.get(pin_resource_url(sb.url, "7"), headers=headers, timeout=10)
    assert parse_pin_resource(whole.content, "7") is not None
    # the first half of an answer (its request_identifier, at the end, varies)
    assert whole.content.startswith(cut.content) and len(cut.content) < len(whole.content) * 0.6
    assert whole.headers["Content-Type"] == "application/json; charset=utf-8"
    # the cut answer is not counted as a fetch of the pin
    assert sb.stats()["resources"]["pin"] == {"unique": 1, "repeated": 0, "max_fetches": 1}


def test_latency_knob(make_sandbox) -> None:
    sb = make_sandbox(latency_ms=150)
    started = time.perf_counter()
    requests.get(f"{sb.url}/", headers=PINTEREST, timeout=10)
    assert time.perf_counter() - started >= 0.15


def test_images_are_real_jpegs_of_the_announced_size(sandbox) -> None:
    from PIL import Image

    http, headers = _signed(sandbox.url)
    data = http.get(pin_resource_url(sandbox.url, "4242"), headers=headers, timeout=10).json()
    orig = data["resource_response"]["data"]["images"]["orig"]
    path = orig["url"].removeprefix("https://i.pinimg.com")
    img = requests.get(f"{sandbox.url}{path}", headers={"X-Forwarded-Host": "i.pinimg.com"}, timeout=10)
    assert img.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(img.content)).size == (orig["width"], orig["height"])
    bad = requests.get(
        f"{sandbox.url}/originals/00/00/00/{'0' * 32}.jpg",
        headers={"X-Forwarded-Host": "i.pinimg.com"},
        timeout=10,
    )
    assert bad.status_code == 404


@pytest.mark.parametrize("flag", ["--error-rate", "--missing-rate"])
def test_bad_knob_is_refused(flag: str) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "sandbox", "--port", "0", flag, "1.5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode != 0
    assert "must be between 0 and 1" in proc.stderr


def test_search_pages_until_end_deterministically(make_sandbox) -> None:
    from crawler.parsers.pinterest import parse_search_page, search_url

    sb = make_sandbox(search_results=60)
    http, headers = _signed(sb.url)

    def collect(keyword: str) -> list[str]:
        ids, bookmark, pages = [], None, 0
        while True:
            resp = http.get(search_url(sb.url, keyword, bookmark), headers=headers, timeout=10)
            assert resp.status_code == 200
            page = parse_search_page(resp.content, keyword)
            ids += [h.id for h in page.hits]
            pages += 1
            if page.bookmark is None:
                return ids
            bookmark = page.bookmark

    cats = collect("cats")
    assert len(cats) == len(set(cats)) == 60
    assert collect("cats") == cats
    assert set(collect("dogs")).isdisjoint(cats)
    # a bookmark belongs to its query
    first = parse_search_page(
        http.get(search_url(sb.url, "cats"), headers=headers, timeout=10).content, "cats"
    )
    wrong = http.get(search_url(sb.url, "dogs", first.bookmark), headers=headers, timeout=10)
    assert wrong.status_code == 400
