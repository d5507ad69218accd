"""Alembic's environment: run on the connection crawler/db/schema.py hands over."""

from __future__ import annotations

from alembic import context

from crawler.db.models import Base

config = context.config
context.configure(
    connection=config.attributes["connection"],
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters a table by copying it; Alembic's batch mode does that
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
