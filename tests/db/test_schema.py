"""The schema kept by Alembic migrations (crawler/db/schema.py): new databases, databases made
before migrations, newer ones, and migrations a crawl applies by itself or leaves to the user."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from crawler.db import make_engine, schema
from crawler.db.engine import create_engine_for, dispose_all
from crawler.db.models import Base
from crawler.db.schema import SchemaError, ensure_schema, revision_of, upgrade
from tests.databases import own_pg_database, table_rows


def test_head_is_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(schema.MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == schema.HEAD


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrations_make_what_the_models_say(backend: str, tmp_path: Path) -> None:
    if backend == "sqlite":
        check_matches_models(f"sqlite:///{tmp_path / 'new.sqlite3'}")
        return
    with own_pg_database() as url:
        check_matches_models(url)


def check_matches_models(url: str) -> None:
    engine = make_engine(url)
    with engine.connect() as conn:
        assert revision_of(conn) == schema.HEAD
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_a_database_made_before_migrations_is_taken_over_with_every_row(made_before_migrations: str) -> None:
    before = table_rows(made_before_migrations)
    assert len(before["pins"]) == 30 and len(before["vehicles"]) == 3
    engine = make_engine(made_before_migrations)
    with engine.connect() as conn:
        assert revision_of(conn) == schema.HEAD
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    assert table_rows(made_before_migrations) == before


def test_a_database_from_a_newer_version_is_refused_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.sqlite3'}"
    make_engine(url)
    dispose_all()
    with sqlite3.connect(tmp_path / "newer.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(SchemaError) as refused:
        make_engine(url)
    message = str(refused.value)
    assert "\n" not in message and "0099" in message and "newer version of the project" in message


_NEXT = f"{int(schema.HEAD) + 1:04d}"  # a migration after the project's newest


def _migrations_with(tmp_path: Path, additive: bool) -> Path:
    """The project's migrations plus one after HEAD that adds a column, ADDITIVE or not."""
    folder = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "versions" / f"{_NEXT}_pins_lang.py").write_text(
        f'''"""pins.lang"""
import sqlalchemy as sa
from alembic import op

revision = "{_NEXT}"
down_revision = "{schema.HEAD}"
branch_labels = None
depends_on = None
ADDITIVE = {additive}


def upgrade() -> None:
    with op.batch_alter_table("pins") as batch:
        batch.add_column(sa.Column("lang", sa.String(8)))


def downgrade() -> None:
    with op.batch_alter_table("pins") as batch:
        batch.drop_column("lang")
'''
    )
    return folder


@pytest.mark.parametrize("additive", [True, False], ids=["additive", "changing"])
def test_a_later_migration_applies_itself_only_when_additive(
    additive: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'at-head.sqlite3'}"
    make_engine(url)  # at HEAD, with rows
    with sqlite3.connect(tmp_path / "at-head.sqlite3") as conn:
        conn.execute("INSERT INTO pins (id, keyword) VALUES ('1', 'k')")
    dispose_all()
    monkeypatch.setattr(schema, "MIGRATIONS", _migrations_with(tmp_path, additive))
    head = schema.HEAD
    monkeypatch.setattr(schema, "HEAD", _NEXT)
    engine = create_engine_for(url)
    if additive:
        ensure_schema(engine, "the test database")
    else:
        with pytest.raises(SchemaError) as refused:
            ensure_schema(engine, "the test database")
        assert "`scrapy pindb upgrade" in str(refused.value) and _NEXT in str(refused.value)
        assert upgrade(engine) == (head, _NEXT)  # what `scrapy pindb upgrade` runs
        ensure_schema(engine, "the test database")  # nothing left to do
    with engine.connect() as conn:
        assert revision_of(conn) == _NEXT
        assert conn.execute(text("SELECT id, keyword, lang FROM pins")).all() == [("1", "k", None)]
    engine.dispose()


def _open(url: str) -> None:
    make_engine(url)


def test_four_processes_opening_one_new_database_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        pool.map(_open, [url] * 4)
    with sqlite3.connect(tmp_path / "race.sqlite3") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(schema.HEAD,)]
