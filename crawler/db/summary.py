"""`python -m crawler.db.summary [DATABASE_URL]`: what the pins table holds, for people."""

from __future__ import annotations

import sys

from sqlalchemy import func, select

from crawler.db import Pin, make_engine


def summary(url: str) -> str:
    engine = make_engine(url)
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(Pin)) or 0
        details = conn.scalar(select(func.count()).where(Pin.details_fetched_at.is_not(None))) or 0
        refused = conn.scalar(select(func.count()).where(Pin.status.is_not(None))) or 0
        sample = conn.execute(
            select(Pin.id, Pin.title, Pin.board_name, Pin.saves, Pin.image_url)
            .where(Pin.details_fetched_at.is_not(None))
            .order_by(Pin.id)
            .limit(3)
        ).all()
    lines = [
        f"database: {url}",
        f"pins: {total} stored, {details} with details, {refused} refused by the API, "
        f"{total - details - refused} still to fetch",
    ]
    for pin_id, title, board, saves, image in sample:
        lines.append(f"  {pin_id}  {title!r} on {board!r}, {saves} saves, {image}")
    return "\n".join(lines)


if __name__ == "__main__":
    from scrapy.utils.project import get_project_settings

    url = sys.argv[1] if len(sys.argv) > 1 else get_project_settings().get("DATABASE_URL")
    print(summary(url).encode("ascii", "replace").decode("ascii"))
