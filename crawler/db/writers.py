"""Which table each item goes to: a registry from item type to its table writer, for the one
writer pipeline (crawler/pipelines/database.py). A new source registers its items in its own
database module's ROUTES and is listed here; the pipeline itself never changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

Row = dict[str, Any]


@dataclass(frozen=True)
class TableWriter:
    """Writes a batch of rows in one transaction, idempotently (a batch written twice after a
    lost commit leaves the same rows): how many rows it wrote. Lower `order` goes first."""

    name: str
    write: Callable[[Engine, list[Row]], int]
    order: int = 0


@dataclass(frozen=True)
class Route:
    table: TableWriter
    row: Callable[[Any], Row | None]  # the item's row; None: nothing to write for it


def routes() -> dict[type, Route]:
    """Every registered item type, by exact type."""
    from crawler.db import links, pins

    return {**pins.ROUTES, **links.ROUTES}
