"""The J.D. Power vehicle-report portal, as its browser user sees it: login, licence, inventory, PDFs.

- ``GET /login``: a form (username, password, hidden ``csrf_token`` tied to the ``JDSESSION``
  cookie it sets). ``POST /login``: wrong credentials or token give the form again with
  ``<div id="login-error">``; right ones mark the session logged in and redirect to ``/licence``.
- ``GET /licence``: the licence text and an "Accept" button whose JavaScript posts
  ``/api/licence/accept`` (``X-CSRF-Token`` from a meta tag) and then goes to ``/inventory``.
  Until then every other page redirects here (API calls answer 403).
- ``GET /inventory``: an empty table that the page's JavaScript fills from
  ``GET /api/inventory?page=N`` (25 vehicles a page: ``ref``, ``year``, ``make``, ``model``,
  ``vin``), with a "Next" button; ``?page=N`` in the page's URL opens page N.
- ``GET /vehicle/<ref>``: the vehicle and a "Download PDF" button. Its JavaScript posts
  ``/api/reports`` for a one-time report URL and navigates to it; ``GET /reports/<token>``
  answers after ``--pdf-delay-ms`` with the PDF as an attachment, under a file name the spider
  must not trust (``..\\..\\``, a path, the wrong extension). The PDF is real and valid (one
  page naming the vehicle, a correct xref table, ``%%EOF``); ``--truncate-rate`` cuts some.
- Not logged in: every page redirects to ``/login``, including report URLs (a naive download
  saves the login page). Sessions expire after ``--session-ttl-s``; ``--error-rate`` gives 500s.
  Pages carry a stylesheet, a font and a logo, so blocking them can be checked.

Vehicles are a pure function of (seed, index), ``--vehicles`` of them. Credentials are the
knobs ``--jd-user`` / ``--jd-pass``; the sandbox never logs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import random
import re
import secrets
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aiohttp import web

from .server import Route, Sandbox

# The portal also answers on the sandbox's own address, so a spider can take the sandbox's URL as
# its base URL (`-s JDPOWER_BASE_URL=http://127.0.0.1:PORT`) and its browser talks to it directly.
# SANDBOX_URL's routing inside the browser cannot serve this site: Playwright does not route the
# requests a redirect makes, and the login answers with redirects.
HOSTS = ("www.jdpowervalues.com", "jdpowervalues.com", "127.0.0.1", "localhost")
SESSION_COOKIE = "JDSESSION"
PAGE_SIZE = 25
_MAKES = {
    "Toyota": ["Camry", "Corolla", "RAV4", "Tacoma"],
    "Ford": ["F-150", "Escape", "Explorer", "Mustang"],
    "Honda": ["Civic", "Accord", "CR-V", "Pilot"],
    "Chevrolet": ["Silverado", "Malibu", "Equinox", "Tahoe"],
    "Nissan": ["Altima", "Rogue", "Sentra", "Frontier"],
    "Subaru": ["Outback", "Forester", "Impreza", "Crosstrek"],
}
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@dataclass(frozen=True)
class Vehicle:
    ref: str
    year: int
    make: str
    model: str
    vin: str

    def as_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "year": self.year, "make": self.make, "model": self.model, "vin": self.vin}


@lru_cache(maxsize=8)
def inventory(seed: int, count: int) -> tuple[Vehicle, ...]:
    rng = random.Random(f"jdpower:{seed}")
    refs = rng.sample(range(100_000, 1_000_000), count)
    vehicles = []
    for ref in refs:
        make = rng.choice(sorted(_MAKES))
        vin = "".join(rng.choice(_VIN_CHARS) for _ in range(17))
        vehicles.append(Vehicle(f"JDP-{ref}", rng.randint(2008, 2025), make, rng.choice(_MAKES[make]), vin))
    return tuple(vehicles)


def report_pdf(vehicle: Vehicle) -> bytes:
    """A one-page PDF naming the vehicle, with a byte-exact xref table."""
    lines = [
        "J.D. Power Vehicle Report",
        f"Reference: {vehicle.ref}",
        f"Vehicle: {vehicle.year} {vehicle.make} {vehicle.model}",
        f"VIN: {vehicle.vin}",
    ]
    # pad the content like a real report's tables: about 20 KB per file
    for n in range(300):
        digest = hashlib.sha1(f"{vehicle.vin}{n}".encode()).hexdigest()
        lines.append(f"Valuation line {n:03d}: {vehicle.ref} {digest}")
    text = "\n".join(f"({_pdf_escape(line)}) Tj 0 -14 Td" for line in lines)
    stream = f"BT /F1 11 Tf 56 780 Td\n{text}\nET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>"
        b" /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Title (%s) /Producer (sandbox) >>" % _pdf_escape(f"Vehicle report {vehicle.ref}").encode(),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


@dataclass
class Session:
    created: float
    csrf: str
    user: str | None = None
    licence_accepted: bool = False
    reports: dict[str, str] = field(default_factory=dict)  # one-time token -> vehicle ref


class JDPowerSite:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        knobs = sandbox.knobs
        self.vehicles = inventory(knobs.seed, knobs.vehicles)
        self.by_ref = {v.ref: v for v in self.vehicles}
        self.sessions: dict[str, Session] = {}

    # --- sessions ---
    def _session(self, request: web.Request) -> Session | None:
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.get(sid or "")
        if session is None:
            return None
        ttl = self.sandbox.knobs.session_ttl_s
        if ttl and time.monotonic() - session.created > ttl:
            del self.sessions[sid or ""]
            self.sandbox.stats.by_route["jdpower sessions"]["expired"] += 1
            return None
        return session

    def drop_sessions(self) -> int:
        count = len(self.sessions)
        self.sessions.clear()
        self.sandbox.stats.by_route["jdpower sessions"]["expired"] += count
        return count

    def _new_session(self, response: web.StreamResponse) -> Session:
        sid = secrets.token_urlsafe(24)
        session = Session(created=time.monotonic(), csrf=secrets.token_urlsafe(16))
        self.sessions[sid] = session
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, path="/", samesite="Lax")
        return session

    def _gate(
        self, request: web.Request, *, api: bool = False
    ) -> tuple[Session | None, web.StreamResponse | None]:
        """The session of a logged-in user who accepted the licence, or the answer to give instead."""
        session = self._session(request)
        if session is None or session.user is None:
            if api:
                return None, web.json_response({"error": "login required"}, status=401)
            return None, _redirect("/login")
        if not session.licence_accepted:
            if api:
                return None, web.json_response({"error": "licence not accepted"}, status=403)
            return None, _redirect("/licence")
        return session, None

    # --- pages ---
    async def login_form(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        response = web.Response(content_type="text/html")
        session = self._session(request)
        if session is None:
            session = self._new_session(response)
        elif session.user is not None:
            return _redirect("/licence" if not session.licence_accepted else "/inventory")
        response.text = _page("Sign in", _login_form(session.csrf, error=None))
        return response

    async def login(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        form = await request.post()
        session = self._session(request)
        knobs = self.sandbox.knobs
        user, password = str(form.get("username", "")), str(form.get("password", ""))
        if session is None or not secrets.compare_digest(str(form.get("csrf_token", "")), session.csrf):
            response = web.Response(content_type="text/html", status=403)
            session = self._new_session(response)
            response.text = _page(
                "Sign in", _login_form(session.csrf, error="Your session expired. Please sign in again.")
            )
            return response
        if user != knobs.jd_user or not secrets.compare_digest(password.encode(), knobs.jd_pass.encode()):
            self.sandbox.stats.by_route["jdpower logins"]["refused"] += 1
            response = web.Response(content_type="text/html")
            response.text = _page("Sign in", _login_form(session.csrf, error="Invalid username or password."))
            return response
        self.sandbox.stats.by_route["jdpower logins"]["accepted"] += 1
        session.user = user
        return _redirect("/licence")

    async def licence(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        session = self._session(request)
        if session is None or session.user is None:
            return _redirect("/login")
        if session.licence_accepted:
            return _redirect("/inventory")
        body = """
<h1>Licence agreement</h1>
<div id="licence-text"><p>Reports are licensed to the signed-in subscriber for internal use only.</p></div>
<button id="accept" type="button">Accept</button>
<script>
document.getElementById('accept').addEventListener('click', async () => {
  const token = document.querySelector('meta[name=csrf-token]').content;
  const r = await fetch('/api/licence/accept', {method: 'POST', headers: {'X-CSRF-Token': token}});
  if (r.ok) { window.location.assign('/inventory'); }
  else { document.getElementById('licence-text')
    .insertAdjacentHTML('beforeend', '<p id="accept-error">Could not accept</p>'); }
});
</script>"""
        return web.Response(content_type="text/html", text=_page("Licence", body, csrf=session.csrf))

    async def accept_licence(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        session = self._session(request)
        if session is None or session.user is None:
            return web.json_response({"error": "login required"}, status=401)
        if not secrets.compare_digest(request.headers.get("X-CSRF-Token", ""), session.csrf):
            return web.json_response({"error": "bad CSRF token"}, status=403)
        session.licence_accepted = True
        self.sandbox.stats.by_route["jdpower licences"]["accepted"] += 1
        return web.json_response({"accepted": True})

    async def inventory_page(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        session, refused = self._gate(request)
        if session is None:
            assert refused is not None
            return refused
        body = """
<h1>Vehicle inventory</h1>
<p id="summary">Loading...</p>
<table id="inventory">
<thead><tr><th>Reference</th><th>Year</th><th>Make</th><th>Model</th><th>VIN</th></tr></thead>
<tbody></tbody></table>
<button id="next" type="button" hidden>Next</button>
<script>
const params = new URLSearchParams(window.location.search);
let page = parseInt(params.get('page') || '1', 10);
async function load() {
  const r = await fetch('/api/inventory?page=' + page, {headers: {'Accept': 'application/json'}});
  if (!r.ok) { document.getElementById('summary').textContent = 'Error ' + r.status; return; }
  const data = await r.json();
  const rows = data.vehicles.map(v => '<tr class="vehicle" data-ref="' + v.ref + '">' +
    '<td class="ref"><a href="/vehicle/' + encodeURIComponent(v.ref) + '">' + v.ref + '</a></td>' +
    '<td class="year">' + v.year + '</td><td class="make">' + v.make + '</td>' +
    '<td class="model">' + v.model + '</td><td class="vin">' + v.vin + '</td></tr>').join('');
  document.querySelector('#inventory tbody').innerHTML = rows;
  document.getElementById('summary').textContent =
    'Page ' + data.page + ' of ' + data.pages + ' (' + data.total + ' vehicles)';
  document.getElementById('summary').dataset.pages = data.pages;
  document.getElementById('next').hidden = data.page >= data.pages;
  document.body.dataset.loaded = String(data.page);
}
document.getElementById('next').addEventListener('click', () => { page += 1; load(); });
load();
</script>"""
        return web.Response(content_type="text/html", text=_page("Inventory", body, csrf=session.csrf))

    async def inventory_api(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        _, refused = self._gate(request, api=True)
        if refused is not None:
            return refused
        try:
            page = max(1, int(request.query.get("page", "1")))
        except ValueError:
            return web.json_response({"error": "page must be a number"}, status=400)
        total = len(self.vehicles)
        pages = max(1, -(-total // PAGE_SIZE))
        chunk = self.vehicles[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        return web.json_response(
            {"page": page, "pages": pages, "total": total, "vehicles": [v.as_json() for v in chunk]}
        )

    async def vehicle_page(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        session, refused = self._gate(request)
        if session is None:
            assert refused is not None
            return refused
        vehicle = self.by_ref.get(match["ref"])
        if vehicle is None:
            return web.Response(
                status=404, content_type="text/html", text=_page("Not found", "<h1>No such vehicle</h1>")
            )
        e = html.escape
        body = f"""
<h1 id="title">{vehicle.year} {e(vehicle.make)} {e(vehicle.model)}</h1>
<dl id="vehicle" data-ref="{e(vehicle.ref)}"><dt>Reference</dt><dd class="ref">{e(vehicle.ref)}</dd>
<dt>VIN</dt><dd class="vin">{vehicle.vin}</dd></dl>
<button id="download-pdf" type="button">Download PDF</button>
<p id="status"></p>
<script>
document.getElementById('download-pdf').addEventListener('click', async () => {{
  const token = document.querySelector('meta[name=csrf-token]').content;
  document.getElementById('status').textContent = 'Preparing report...';
  const r = await fetch('/api/reports', {{method: 'POST', headers: {{'X-CSRF-Token': token,
    'Content-Type': 'application/json'}}, body: JSON.stringify({{ref: '{e(vehicle.ref)}'}})}});
  if (!r.ok) {{ document.getElementById('status').textContent = 'Report failed: ' + r.status; return; }}
  const data = await r.json();
  window.location.assign(data.url);
}});
</script>"""
        return web.Response(content_type="text/html", text=_page(vehicle.ref, body, csrf=session.csrf))

    async def request_report(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        session, refused = self._gate(request, api=True)
        if refused is not None:
            return refused
        assert session is not None
        if not secrets.compare_digest(request.headers.get("X-CSRF-Token", ""), session.csrf):
            return web.json_response({"error": "bad CSRF token"}, status=403)
        try:
            ref = str((await request.json())["ref"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'body must be {"ref": ...}'}, status=400)
        if ref not in self.by_ref:
            return web.json_response({"error": "no such vehicle"}, status=404)
        token = secrets.token_urlsafe(18)
        session.reports[token] = ref
        return web.json_response({"url": f"/reports/{token}"})

    async def report(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        session, refused = self._gate(request)
        if session is None:
            assert refused is not None
            return refused
        ref = session.reports.pop(match["token"], None)
        if ref is None:
            return web.Response(
                status=404, content_type="text/html", text=_page("Not found", "<h1>Report link expired</h1>")
            )
        knobs = self.sandbox.knobs
        if knobs.pdf_delay_ms:
            await asyncio.sleep(knobs.pdf_delay_ms / 1000)
        vehicle = self.by_ref[ref]
        pdf = report_pdf(vehicle)
        self.sandbox.record_fetch(f"pdf:{ref}")
        # a name no spider should use as is: a path out of the folder, backslashes, spaces
        suggested = f"..\\..\\reports/{vehicle.make} {vehicle.model} {ref}.pdf"
        headers = {"Content-Disposition": f'attachment; filename="{suggested}"'}
        cut = self.sandbox.cut(request)
        return await self.sandbox.body(request, pdf, cut, content_type="application/pdf", headers=headers)

    async def asset(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        kind = match["kind"]
        self.sandbox.stats.by_route["jdpower assets"][kind] += 1
        if kind == "css":
            return web.Response(text="body{font-family:JDSans,sans-serif}", content_type="text/css")
        if kind == "woff2":
            return web.Response(body=b"wOF2" + bytes(2000), content_type="font/woff2")
        return web.Response(body=_LOGO_GIF, content_type="image/gif")

    async def home(self, request: web.Request, match: re.Match[str]) -> web.StreamResponse:
        session = self._session(request)
        if session is None or session.user is None:
            return _redirect("/login")
        return _redirect("/inventory" if session.licence_accepted else "/licence")


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location})


_LOGO_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def _page(title: str, body: str, csrf: str | None = None) -> str:
    meta = f'<meta name="csrf-token" content="{csrf}">' if csrf else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)} - J.D. Power Values</title>{meta}
<link rel="stylesheet" href="/static/site.css">
<style>@font-face{{font-family:JDSans;src:url(/static/jdsans.woff2)}}</style>
</head><body><header><img id="logo" src="/static/logo.gif" alt="J.D. Power"></header>
{body}
</body></html>"""


def _login_form(csrf: str, error: str | None) -> str:
    problem = f'<div id="login-error" class="error">{html.escape(error)}</div>' if error else ""
    return f"""<h1>Sign in</h1>{problem}
<form id="login" method="post" action="/login">
<input type="hidden" name="csrf_token" value="{csrf}">
<label>Username <input name="username" id="username" autocomplete="username"></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password"></label>
<button type="submit" id="sign-in">Sign in</button>
</form>"""


def register(sandbox: Sandbox) -> None:
    site = JDPowerSite(sandbox)
    sandbox.session_droppers.append(site.drop_sessions)
    sandbox.add_site(
        HOSTS,
        [
            Route("GET", re.compile(r"/"), site.home, "/"),
            Route("GET", re.compile(r"/login"), site.login_form, "/login"),
            Route("POST", re.compile(r"/login"), site.login, "POST /login"),
            Route("GET", re.compile(r"/licence"), site.licence, "/licence"),
            Route(
                "POST", re.compile(r"/api/licence/accept"), site.accept_licence, "POST /api/licence/accept"
            ),
            Route("GET", re.compile(r"/inventory"), site.inventory_page, "/inventory"),
            Route("GET", re.compile(r"/api/inventory"), site.inventory_api, "/api/inventory"),
            Route("GET", re.compile(r"/vehicle/(?P<ref>[A-Za-z0-9-]+)"), site.vehicle_page, "/vehicle/*"),
            Route("POST", re.compile(r"/api/reports"), site.request_report, "POST /api/reports"),
            Route("GET", re.compile(r"/reports/(?P<token>[A-Za-z0-9_-]+)"), site.report, "/reports/*"),
            Route(
                "GET",
                re.compile(r"/static/[a-z]+\.(?P<kind>css|woff2|gif)"),
                site.asset,
                "/static/*",
                faults=False,
            ),
        ],
    )
