"""Database models. Items (crawler.items) are mapped onto these by the writer pipeline only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Pin(Base):
    __tablename__ = "pins"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # numeric pin id, as text
    keyword: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    image_width: Mapped[int | None] = mapped_column(Integer)
    image_height: Mapped[int | None] = mapped_column(Integer)
    board_name: Mapped[str | None] = mapped_column(Text)
    pinner_username: Mapped[str | None] = mapped_column(String(200))
    saves: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    details_fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str | None] = mapped_column(String(40))  # set when the API refuses the pin
    error: Mapped[str | None] = mapped_column(Text)
    image_path: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_pins_keyword_fetched", "keyword", "details_fetched_at"),)
