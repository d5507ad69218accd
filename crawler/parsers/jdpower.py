"""J.D. Power portal answers as data: the inventory API's pages, report PDFs, file names. Pure."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from crawler.parsers import MalformedResponse

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class InventoryVehicle:
    ref: str
    year: int | None
    make: str
    model: str
    vin: str | None

    @property
    def description(self) -> str:
        return " ".join(str(part) for part in (self.year, self.make, self.model) if part)


@dataclass(frozen=True, slots=True)
class InventoryPage:
    page: int
    pages: int
    total: int
    vehicles: list[InventoryVehicle]


def parse_inventory_page(body: bytes) -> InventoryPage:
    """`/api/inventory?page=N` -> the page. Raises MalformedResponse when it is not that shape."""
    try:
        data = json.loads(body)
        vehicles = [
            InventoryVehicle(
                ref=str(v["ref"]).strip(),
                year=int(v["year"]) if v.get("year") is not None else None,
                make=str(v.get("make") or ""),
                model=str(v.get("model") or ""),
                vin=str(v["vin"]) if v.get("vin") else None,
            )
            for v in data["vehicles"]
        ]
        page = InventoryPage(int(data["page"]), int(data["pages"]), int(data["total"]), vehicles)
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedResponse(f"not an inventory page: {exc!r}"[:200]) from None
    if any(not v.ref for v in vehicles):
        raise MalformedResponse("a vehicle without a reference number")
    return page


def pdf_problem(data: bytes, expected_size: int | None) -> str | None:
    """None for a whole PDF; else what is wrong, in a few words. A login or error page, an empty
    or cut file are never taken for a report."""
    if not data:
        return "empty file"
    if not data.startswith(b"%PDF-"):
        head = data[:60].decode("latin-1", "replace").strip().replace("\n", " ")
        return f"not a PDF (starts with {head[:40]!r})"
    if expected_size is not None and len(data) != expected_size:
        return f"got {len(data)} of {expected_size} bytes"
    if b"%%EOF" not in data[-1024:]:
        return "cut short: no %%EOF at the end"
    return None


def report_filename(ref: str) -> str:
    """The file a vehicle's report is saved as: from its reference number only, one safe path
    component, whatever name the server suggests."""
    name = _SAFE.sub("_", ref).strip("._")[:120]
    return f"{name or 'vehicle'}.pdf"
