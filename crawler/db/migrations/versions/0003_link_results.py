"""What `links` fetched: link_results (one row per video, thread, article) and link_comments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ADDITIVE = True  # new tables: code from before them never reads them


def upgrade() -> None:
    op.create_table(
        "link_results",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=2048), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kind", "id"),
    )
    op.create_table(
        "link_comments",
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("thread_id", sa.String(length=200), nullable=False),
        sa.Column("parent_id", sa.String(length=200), nullable=True),
        sa.Column("author", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kind", "id"),
    )
    with op.batch_alter_table("link_comments", schema=None) as batch_op:
        batch_op.create_index("ix_link_comments_thread", ["kind", "thread_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("link_comments", schema=None) as batch_op:
        batch_op.drop_index("ix_link_comments_thread")
    op.drop_table("link_comments")
    op.drop_table("link_results")
