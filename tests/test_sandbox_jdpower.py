"""The sandbox's J.D. Power portal over plain HTTP: login with CSRF, licence gate, inventory API,
one-time report URLs, real PDFs, expiring sessions. (What its JavaScript does is exercised by
the jdpower spider's browser tests.)"""

from __future__ import annotations

import re
import time

import requests

JD = {"X-Forwarded-Host": "www.jdpowervalues.com"}


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match.group(1)


def _login(
    url: str, user: str = "sandbox-user", password: str = "sandbox-pass"
) -> tuple[requests.Session, str]:
    http = requests.Session()
    form = http.get(f"{url}/login", headers=JD, timeout=10)
    answer = http.post(
        f"{url}/login",
        headers=JD,
        data={"csrf_token": _csrf(form.text), "username": user, "password": password},
        allow_redirects=False,
        timeout=10,
    )
    return http, answer.text if answer.status_code != 302 else answer.headers["Location"]


def _accepted(url: str) -> tuple[requests.Session, str]:
    http, where = _login(url)
    assert where == "/licence"
    page = http.get(f"{url}/licence", headers=JD, timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert http.post(f"{url}/api/licence/accept", headers={**JD, "X-CSRF-Token": token}, timeout=10).ok
    return http, token


def _report_link(url: str, http: requests.Session, token: str) -> tuple[dict[str, str], str]:
    """The first vehicle of the inventory, and a one-time link to its report."""
    vehicle = http.get(f"{url}/api/inventory", headers=JD, timeout=10).json()["vehicles"][0]
    answer = http.post(
        f"{url}/api/reports", headers={**JD, "X-CSRF-Token": token}, json={"ref": vehicle["ref"]}, timeout=10
    )
    return vehicle, str(answer.json()["url"])


def test_every_page_needs_a_login_then_the_licence(sandbox) -> None:
    for path in ("/", "/inventory", "/vehicle/JDP-100000", "/reports/abc"):
        answer = requests.get(f"{sandbox.url}{path}", headers=JD, allow_redirects=False, timeout=10)
        assert (answer.status_code, answer.headers["Location"]) == (302, "/login"), path
    assert requests.get(f"{sandbox.url}/api/inventory", headers=JD, timeout=10).status_code == 401
    http, _ = _login(sandbox.url)
    answer = http.get(f"{sandbox.url}/inventory", headers=JD, allow_redirects=False, timeout=10)
    assert answer.headers["Location"] == "/licence"
    assert http.get(f"{sandbox.url}/api/inventory", headers=JD, timeout=10).status_code == 403


def test_wrong_credentials_show_an_error_on_the_page(sandbox) -> None:
    _, page = _login(sandbox.url, password="wrong")
    assert 'id="login-error"' in page and "Invalid username or password" in page
    _, page = _login(sandbox.url, user="nobody")
    assert 'id="login-error"' in page


def test_login_needs_the_form_token(sandbox) -> None:
    http = requests.Session()
    http.get(f"{sandbox.url}/login", headers=JD, timeout=10)
    forged = {"csrf_token": "forged", "username": "sandbox-user", "password": "sandbox-pass"}
    answer = http.post(f"{sandbox.url}/login", headers=JD, data=forged, allow_redirects=False, timeout=10)
    assert answer.status_code == 403


def test_inventory_pages_and_deterministic_vehicles(make_sandbox) -> None:
    sb = make_sandbox(vehicles=60, seed=4)
    http, _ = _accepted(sb.url)
    pages = [http.get(f"{sb.url}/api/inventory?page={n}", headers=JD, timeout=10).json() for n in (1, 2, 3)]
    assert [p["pages"] for p in pages] == [3, 3, 3] and pages[0]["total"] == 60
    vehicles = [v for p in pages for v in p["vehicles"]]
    assert len(vehicles) == 60 and len({v["ref"] for v in vehicles}) == 60
    assert all(
        len(v["vin"]) == 17 and v["make"] and v["model"] and 2008 <= v["year"] <= 2025 for v in vehicles
    )
    again, _ = _accepted(sb.url)
    assert again.get(f"{sb.url}/api/inventory?page=2", headers=JD, timeout=10).json() == pages[1]


def test_report_is_a_valid_pdf_naming_the_vehicle_after_the_delay(make_sandbox) -> None:
    sb = make_sandbox(pdf_delay_ms=400)
    http, token = _accepted(sb.url)
    vehicle, link = _report_link(sb.url, http, token)
    started = time.monotonic()
    pdf = http.get(f"{sb.url}{link}", headers=JD, timeout=10)
    assert time.monotonic() - started >= 0.4
    assert pdf.headers["Content-Type"] == "application/pdf"
    assert "attachment" in pdf.headers["Content-Disposition"] and ".." in pdf.headers["Content-Disposition"]
    body = pdf.content
    assert body.startswith(b"%PDF-1.4") and body.rstrip().endswith(b"%%EOF")
    assert int(pdf.headers["Content-Length"]) == len(body) > 10_000
    assert vehicle["ref"].encode() in body and vehicle["vin"].encode() in body
    # every xref entry points at its object
    xref_at = int(body.rsplit(b"startxref", 1)[1].split()[0])
    entries = body[xref_at:].split(b"\n")[3:9]
    for number, entry in enumerate(entries, start=1):
        offset = int(entry.split()[0])
        assert body[offset:].startswith(b"%d 0 obj" % number)
    # the link was for one download
    assert http.get(f"{sb.url}{link}", headers=JD, timeout=10).status_code == 404


def test_sessions_expire(make_sandbox) -> None:
    sb = make_sandbox(session_ttl_s=1)
    http, _ = _accepted(sb.url)
    assert http.get(f"{sb.url}/api/inventory", headers=JD, timeout=10).ok
    time.sleep(1.2)
    assert http.get(f"{sb.url}/api/inventory", headers=JD, timeout=10).status_code == 401
    answer = http.get(f"{sb.url}/inventory", headers=JD, allow_redirects=False, timeout=10)
    assert answer.headers["Location"] == "/login"


def test_truncate_cuts_the_next_reports_then_serves_them_whole(make_sandbox) -> None:
    from http.client import HTTPConnection, IncompleteRead

    sb = make_sandbox()
    http, token = _accepted(sb.url)
    sb.truncate("/reports/*", 1)
    cut = http.get(f"{sb.url}{_report_link(sb.url, http, token)[1]}", headers=JD, timeout=10)
    assert cut.ok and int(cut.headers["Content-Length"]) == len(cut.content)  # the size admits it
    assert cut.content.startswith(b"%PDF-") and b"%%EOF" not in cut.content
    whole = http.get(f"{sb.url}{_report_link(sb.url, http, token)[1]}", headers=JD, timeout=10).content
    assert whole.rstrip().endswith(b"%%EOF") and len(cut.content) == len(whole) // 2

    sb.truncate("/reports/*", 1, drop=True)
    _, link = _report_link(sb.url, http, token)
    host, port = sb.url.removeprefix("http://").split(":")
    conn = HTTPConnection(host, int(port), timeout=10)
    cookies = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    conn.request("GET", link, headers={**JD, "Cookie": cookies})
    answer = conn.getresponse()
    assert int(answer.getheader("Content-Length")) == len(whole)  # announced whole
    try:
        got = answer.read()
    except IncompleteRead as exc:
        got = exc.partial
    assert len(got) == len(whole) // 2  # the connection went half-way through
