"""Database models. Items (crawler.items) are mapped onto these by the writer pipeline only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
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


class Vehicle(Base):
    """A J.D. Power inventory vehicle and its report PDF: the jdpower spider's tracking table.

    `status`: pending (seen in the inventory), downloading (claimed by a run: `claimed_by`,
    `claimed_at`), done (a valid PDF at `pdf_path`), failed (retries used up; a later run tries
    again). A done vehicle is never downloaded again."""

    __tablename__ = "vehicles"

    ref: Mapped[str] = mapped_column(String(64), primary_key=True)  # the reference number
    description: Mapped[str | None] = mapped_column(Text)  # "2019 Toyota Camry"
    vin: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    pdf_path: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    run: Mapped[str | None] = mapped_column(String(64))  # "2026-11-23/run-3": the run that saved it
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    downloaded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_vehicles_status", "status"),)


class Task(Base):
    """One unit of work of a queue (`links`, later `flashcards` and `jdpower`): the database, not
    the JOBDIR, says what is left after any stop (crawler/db/tasks.py).

    `state`: pending, processing (held by `lease_owner` until `lease_expires_at`; an expired lease
    is anyone's to take), completed (`result_ref` says where its result is), failed (`error`;
    `attempts` counts the tries), cancelled (not started when a run was stopped: the next run
    takes it like a pending one)."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    queue: Mapped[str] = mapped_column(String(40))
    batch: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))  # the link id, the position, the vehicle ref
    kind: Mapped[str | None] = mapped_column(String(40))  # e.g. youtube, reddit, article
    url: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)  # JSON: what the task needs beyond its URL
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    result_ref: Mapped[str | None] = mapped_column(Text)
    worker_slot: Mapped[int | None] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("queue", "batch", "key", name="uq_tasks_queue_batch_key"),
        Index("ix_tasks_queue_batch_state", "queue", "batch", "state"),
    )


class LinkResult(Base):
    """What `links` fetched for a link, one row per thing, keyed by its source's own id (a
    video id, a BV id, a thread id, an article's URL): the same video in two batches, or a task
    done again after a crash, rewrites its row. The fields the sources share are columns; the
    rest of each source's item is JSON in `data` (crawler/db/links.py)."""

    __tablename__ = "link_results"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)  # youtube, bilibili, reddit...
    id: Mapped[str] = mapped_column(String(2048), primary_key=True)
    url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text)  # JSON: the item's every field
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LinkComment(Base):
    """A comment under a YouTube video or in a Reddit thread, keyed by the site's comment id;
    apart from the results since one thread has thousands and they are read by thread."""

    __tablename__ = "link_comments"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)  # youtube_comments, reddit
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    thread_id: Mapped[str] = mapped_column(String(200))  # the video or thread it is under
    parent_id: Mapped[str | None] = mapped_column(String(200))
    author: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(Text)  # JSON: the item's every field
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_link_comments_thread", "kind", "thread_id"),)
