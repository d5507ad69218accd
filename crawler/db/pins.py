"""Reads and writes of the `pins` table. Blocking: call from the writer thread or a worker thread."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from sqlalchemy import Engine, Insert, func, or_, select

from crawler.db.engine import upsert_insert
from crawler.db.models import Pin
from crawler.db.writers import Route, TableWriter
from crawler.items import PinDetails, PinImage, PinRefusal, SearchHit

# Columns a later write must not blank out when it carries no value for them.
_KEEP_IF_NULL = ("keyword", "image_path")


def upsert_pins(engine: Engine, rows: list[dict[str, Any]]) -> int:
    """Insert or update pins by id, in one transaction. Later rows for an id win."""
    if not rows:
        return 0
    by_id: dict[str, dict[str, Any]] = {}
    for row in rows:  # PostgreSQL refuses the same key twice in one statement
        by_id.setdefault(row["id"], {}).update(row)
    written = 0
    with engine.begin() as conn:
        # one statement per column set: a refusal and a details row carry different columns
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in by_id.values():
            groups.setdefault(tuple(sorted(row)), []).append(row)
        for columns, group in groups.items():
            conn.execute(_upsert(engine, columns), group)
            written += len(group)
    return written


def _upsert(engine: Engine, columns: tuple[str, ...]) -> Insert:
    stmt = upsert_insert(engine)(Pin)
    table = Pin.__table__
    updates = {}
    for name in columns:
        if name == "id":
            continue
        new = stmt.excluded[name]
        if name in _KEEP_IF_NULL:
            new = func.coalesce(new, table.c[name])
        updates[name] = new
    return stmt.on_conflict_do_update(index_elements=[table.c.id], set_=updates)


def insert_new_pins(engine: Engine, rows: list[dict[str, Any]]) -> int:
    """Insert pins not yet stored (search hits); a stored pin keeps its keyword and details."""
    if not rows:
        return 0
    insert = upsert_insert(engine)
    unique = list({row["id"]: row for row in rows}.values())
    with engine.begin() as conn:
        result = conn.execute(insert(Pin).on_conflict_do_nothing(index_elements=["id"]), unique)
    return max(result.rowcount, 0)


def finished_ids(engine: Engine, ids: Iterable[str]) -> set[str]:
    """Those of `ids` that need no API call: details fetched, or refused by the API."""
    wanted = list(ids)
    done: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = select(Pin.id).where(
                Pin.id.in_(chunk),
                or_(Pin.details_fetched_at.is_not(None), Pin.status.is_not(None)),
            )
            done.update(conn.scalars(query))
    return done


def ids_lacking_details(engine: Engine, keyword: str | None, after: str = "", limit: int = 1000) -> list[str]:
    """Up to `limit` pin ids (of a keyword, or all) after `after` that still need their details,
    in id order: pages that a caller can ask for again after a failure."""
    query = select(Pin.id).where(Pin.details_fetched_at.is_(None), Pin.status.is_(None), Pin.id > after)
    if keyword is not None:
        query = query.where(Pin.keyword == keyword)
    with engine.connect() as conn:
        return list(conn.scalars(query.order_by(Pin.id).limit(limit)))


def _lacking_image() -> Any:
    return select(Pin.id, Pin.keyword, Pin.image_url).where(
        Pin.details_fetched_at.is_not(None),
        Pin.image_url.is_not(None),
        Pin.image_path.is_(None),
    )


def lacking_image_among(engine: Engine, ids: Iterable[str]) -> list[tuple[str, str | None, str]]:
    """(id, keyword, image_url) of those of `ids` with details but no recorded image: a stop
    between the details and the image, or an earlier run with images=0."""
    wanted = list(ids)
    rows: list[tuple[str, str | None, str]] = []
    with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            query = _lacking_image().where(Pin.id.in_(wanted[start : start + 500])).order_by(Pin.id)
            rows.extend((r[0], r[1], str(r[2])) for r in conn.execute(query))
    return rows


def lacking_image(
    engine: Engine, keyword: str | None, after: str = "", limit: int = 1000
) -> list[tuple[str, str | None, str]]:
    """Up to `limit` (id, keyword, image_url) after id `after` of pins with details but no
    recorded image, in id order."""
    query = _lacking_image().where(Pin.id > after)
    if keyword is not None:
        query = query.where(Pin.keyword == keyword)
    with engine.connect() as conn:
        return [(r[0], r[1], str(r[2])) for r in conn.execute(query.order_by(Pin.id).limit(limit))]


def _columns(item: PinDetails | PinRefusal) -> dict[str, Any]:
    return {f.name: getattr(item, f.name) for f in fields(item)}


def _details_row(details: PinDetails) -> dict[str, Any]:
    return {**_columns(details), "status": None, "error": None}  # no longer refused, if it was


def _image_row(image: PinImage) -> dict[str, Any] | None:
    if image.path is None:
        return None  # not saved: the next run tries again
    return {"id": image.id, "image_path": image.path}


# search hits first: the details written in the same flush may be for those pins
NEW_PINS = TableWriter("new pins", insert_new_pins, order=0)
PINS = TableWriter("pins", upsert_pins, order=1)
ROUTES: dict[type, Route] = {
    SearchHit: Route(NEW_PINS, lambda hit: {"id": hit.id, "keyword": hit.keyword}),
    PinDetails: Route(PINS, _details_row),
    PinRefusal: Route(PINS, _columns),
    PinImage: Route(PINS, _image_row),
}
