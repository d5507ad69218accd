"""Batches read as a stream: JSON (ijson) and text, bad links named, ids kept stable."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from crawler.batches import KEY_MAX, BadLink, BatchError, BatchLink, batch_id, read_batch


def test_a_json_batch(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    links = [
        {"id": "one", "url": " https://a.example/1 ", "type": "article"},
        {"url": "https://a.example/2"},
        {"id": 7, "url": "https://a.example/3", "type": ""},
        ["not", "an", "object"],
        {"id": "no-url"},
        {"id": {"x": 1}, "url": "https://a.example/4"},
    ]
    path.write_text(json.dumps({"links": links, "batch_id": " week-48 "}))
    assert batch_id(path) == "week-48"  # wherever the batch names itself
    assert list(read_batch(path)) == [
        BatchLink("one", "https://a.example/1", "article"),
        BatchLink("https://a.example/2", "https://a.example/2", None),
        BatchLink("7", "https://a.example/3", None),
        BadLink("b.json: link 4", """not an object but list "['not', 'an', 'object']\""""),
        BadLink("b.json: link 5", 'no "url"'),
        BadLink("b.json: link 6", '"id" must be text, not dict'),
    ]


def test_a_text_batch_and_its_name(tmp_path: Path) -> None:
    path = tmp_path / "monday.txt"
    long = "https://a.example/" + "x" * 300
    path.write_text(f"\ufeff# my links\nhttps://a.example/1\n\n  https://a.example/2  \ntwo words\n{long}\n")
    assert batch_id(path) == "monday"
    links = list(read_batch(path))
    assert links[:3] == [
        BatchLink("https://a.example/1", "https://a.example/1", None),
        BatchLink("https://a.example/2", "https://a.example/2", None),
        BadLink("monday.txt:5", "not one URL: 'two words'"),
    ]
    assert isinstance(links[3], BatchLink) and links[3].url == long and len(links[3].key) <= KEY_MAX


def test_a_batch_cut_short_keeps_what_came_before(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('{"batch_id": "cut", "links": [{"url": "https://a.example/1"}, {"url": "https://a.exa')
    links = list(read_batch(path))
    assert links[0] == BatchLink("https://a.example/1", "https://a.example/1", None)
    assert isinstance(links[1], BadLink) and links[1].where == "cut.json: after link 1"
    assert "not valid JSON" in links[1].problem


def test_a_json_batch_without_a_name_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"links": []}')
    with pytest.raises(BatchError, match='no "batch_id"'):
        batch_id(path)
    path.write_text("{not json")
    with pytest.raises(BatchError, match="not valid JSON"):
        batch_id(path)


def test_a_large_batch_is_read_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    with path.open("w") as out:
        out.write('{"batch_id": "big", "links": [')
        out.write(
            ",".join(json.dumps({"id": f"l{i}", "url": f"https://a.example/{i}"}) for i in range(100_000))
        )
        out.write("]}")
    tracemalloc.start()
    count = sum(1 for _ in read_batch(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 100_000
    assert peak < 2 * 2**20  # the file is 5 MB; reading it holds a few links at a time
