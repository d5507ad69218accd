"""The schema as the project made it before migrations (create-on-use, up to commit 69bc865).

Revision ID: 0001
Revises:
Create Date: 2026-12-01

It creates only what is missing, so that a database made by that code (pins and vehicles, no
alembic_version) is taken over as it is, rows untouched, and a new one is made whole. A table
that exists without one of these columns was made by something else: refused, said plainly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ADDITIVE = True  # nothing that exists is changed


def _pins() -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("keyword", sa.String(200)),
        sa.Column("title", sa.Text()),
        sa.Column("description", sa.Text()),
        sa.Column("link", sa.Text()),
        sa.Column("image_url", sa.Text()),
        sa.Column("image_width", sa.Integer()),
        sa.Column("image_height", sa.Integer()),
        sa.Column("board_name", sa.Text()),
        sa.Column("pinner_username", sa.String(200)),
        sa.Column("saves", sa.Integer()),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("details_fetched_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(40)),
        sa.Column("error", sa.Text()),
        sa.Column("image_path", sa.Text()),
    ]


def _vehicles() -> list[sa.Column]:
    return [
        sa.Column("ref", sa.String(64), primary_key=True),
        sa.Column("description", sa.Text()),
        sa.Column("vin", sa.String(32)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("pdf_path", sa.Text()),
        sa.Column("size", sa.Integer()),
        sa.Column("sha256", sa.String(64)),
        sa.Column("run", sa.String(64)),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_at", sa.DateTime(timezone=True)),
        sa.Column("first_seen_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("downloaded_at", sa.DateTime(timezone=True)),
    ]


TABLES = {"pins": _pins, "vehicles": _vehicles}
INDEXES = {
    "ix_pins_keyword_fetched": ("pins", ["keyword", "details_fetched_at"]),
    "ix_vehicles_status": ("vehicles", ["status"]),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, columns in TABLES.items():
        if not inspector.has_table(name):
            op.create_table(name, *columns())
            continue
        have = {c["name"] for c in inspector.get_columns(name)}
        missing = [c.name for c in columns() if c.name not in have]
        if missing:
            raise RuntimeError(f"table {name} lacks {', '.join(missing)}: not a table this project made")
    for index, (table, indexed) in INDEXES.items():
        if index not in {i["name"] for i in inspector.get_indexes(table)}:
            op.create_index(index, table, indexed)


def downgrade() -> None:
    for index, (table, _) in INDEXES.items():
        op.drop_index(index, table_name=table)
    for name in TABLES:
        op.drop_table(name)
