"""`links` batches, read as a stream: memory does not grow with the batch.

A JSON batch `{"batch_id": "...", "links": [{"id": "...", "url": "...", "type": "..."}, ...]}` is
read by ijson (yajl2's C parser), one link at a time; a text batch is one URL a line, `#` lines
and blank lines skipped, its batch id the file's name. A link the batch gives badly (not an
object, no URL) is a BadLink naming its place; the links around it go on. A text link's id is
its URL (a link added to the file later keeps the others' ids), or a digest of it when longer
than a task key can be.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ijson

KEY_MAX = 200  # the task table's key column


@dataclass(frozen=True)
class BatchLink:
    key: str  # the link's id in the batch
    url: str
    kind: str | None  # the type the batch gives, if any


@dataclass(frozen=True)
class BadLink:
    where: str  # "batch.json: link 7", "urls.txt:12"
    problem: str


class BatchError(ValueError):
    """The batch as a whole cannot be read: the message names the file and what is wrong."""


def url_key(url: str) -> str:
    return url if len(url) <= KEY_MAX else "sha256:" + hashlib.sha256(url.encode()).hexdigest()


def is_json(path: Path) -> bool:
    with path.open("rb") as raw:
        start = raw.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"{")


def batch_id(path: Path) -> str:
    """The batch's id: a JSON batch's `batch_id`, else the file's name without its suffix."""
    if is_json(path):
        with path.open("rb") as raw:
            try:
                for prefix, event, value in ijson.parse(raw):
                    if prefix == "batch_id" and event == "string" and value.strip():
                        return str(value.strip())[:KEY_MAX]
                    if prefix == "" and event == "end_map":
                        break
            except ijson.JSONError as exc:
                raise BatchError(f"batch {path}: not valid JSON ({exc})") from None
        raise BatchError(
            f'batch {path}: no "batch_id" (a JSON batch names itself: {{"batch_id": "...", "links": [...]}})'
        )
    return path.stem[:KEY_MAX]


def read_batch(path: Path) -> Iterator[BatchLink | BadLink]:
    """Every link of the batch, in its order, or a BadLink where one is given badly."""
    if is_json(path):
        yield from _json_links(path)
    else:
        yield from _text_links(path)


def _json_links(path: Path) -> Iterator[BatchLink | BadLink]:
    number = 0
    with path.open("rb") as raw:
        try:
            for number, entry in enumerate(ijson.items(raw, "links.item", use_float=True), start=1):
                yield _json_link(path, number, entry)
        except ijson.JSONError as exc:
            yield BadLink(
                f"{path.name}: after link {number}", f"not valid JSON, the rest of the batch unread ({exc})"
            )
    if number == 0:
        yield BadLink(f"{path.name}", 'no links (a JSON batch lists them in "links": [...])')


def _json_link(path: Path, number: int, entry: Any) -> BatchLink | BadLink:
    where = f"{path.name}: link {number}"
    if not isinstance(entry, dict):
        return BadLink(where, f"not an object but {type(entry).__name__} {str(entry)[:60]!r}")
    url, key, kind = entry.get("url"), entry.get("id"), entry.get("type")
    if not isinstance(url, str) or not url.strip():
        return BadLink(where, 'no "url"')
    if key is not None and not isinstance(key, str | int):
        return BadLink(where, f'"id" must be text, not {type(key).__name__}')
    if kind is not None and not isinstance(kind, str):
        return BadLink(where, f'"type" must be text, not {type(kind).__name__}')
    key = str(key).strip() if key is not None and str(key).strip() else url_key(url.strip())
    if len(key) > KEY_MAX:
        return BadLink(where, f'"id" is longer than {KEY_MAX} characters')
    return BatchLink(key, url.strip(), kind.strip() or None if kind else None)


def _text_links(path: Path) -> Iterator[BatchLink | BadLink]:
    try:
        with path.open(encoding="utf-8-sig") as lines:
            for number, line in enumerate(lines, start=1):
                url = line.strip()
                if not url or url.startswith("#"):
                    continue
                if any(c.isspace() for c in url):
                    yield BadLink(f"{path.name}:{number}", f"not one URL: {url[:80]!r}")
                    continue
                yield BatchLink(url_key(url), url, None)
    except UnicodeDecodeError as exc:
        yield BadLink(f"{path.name}", f"not UTF-8 text (byte {exc.start}), the rest of the batch unread")
