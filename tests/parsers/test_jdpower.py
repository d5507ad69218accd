"""J.D. Power answers as data, on small fixtures: inventory pages, PDFs, file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.parsers import MalformedResponse
from crawler.parsers.jdpower import parse_inventory_page, pdf_problem, report_filename
from sandbox.jdpower import Vehicle, report_pdf

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jdpower"


def test_inventory_page() -> None:
    page = parse_inventory_page((FIXTURES / "inventory_page1.json").read_bytes())
    assert (page.page, page.pages, page.total) == (1, 2, 27)
    assert [v.ref for v in page.vehicles] == ["JDP-104729", "JDP-553102", "JDP-870001"]
    assert page.vehicles[0].description == "2019 Toyota Camry"
    assert page.vehicles[1].vin is None
    assert page.vehicles[2].description == "Honda"


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Sign in</html>",
        b'{"page": 1}',
        b'{"page": 1, "pages": 1, "total": 1, "vehicles": [{"ref": " "}]}',
    ],
)
def test_anything_else_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedResponse):
        parse_inventory_page(body)


def test_only_a_whole_pdf_passes() -> None:
    pdf = report_pdf(Vehicle("JDP-1", 2019, "Toyota", "Camry", "4T1B11HK5KU123456"))
    assert pdf_problem(pdf, len(pdf)) is None
    assert pdf_problem(pdf, None) is None
    assert pdf_problem(b"", None) == "empty file"
    assert "not a PDF" in (pdf_problem(b"<!doctype html><title>Sign in</title>", None) or "")
    assert "of" in (pdf_problem(pdf[:-100], len(pdf)) or "")  # shorter than announced
    assert "no %%EOF" in (pdf_problem(pdf[: len(pdf) // 2], None) or "")  # cut, nothing announced


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        ("JDP-104729", "JDP-104729.pdf"),
        ("../../etc/passwd", "etc_passwd.pdf"),
        ("..\\..\\x y", "x_y.pdf"),
        ("..", "vehicle.pdf"),
    ],
)
def test_file_names_come_from_the_reference_and_stay_in_the_folder(ref: str, name: str) -> None:
    assert report_filename(ref) == name
