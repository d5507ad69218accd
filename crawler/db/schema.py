"""The database's schema, kept by Alembic migrations (crawler/db/migrations/versions/).

Every schema change is a migration; nothing is created on use any more. When a database is
opened (crawler.db.make_engine) it is at one of:
- the head: nothing to do (one query; Alembic is not even imported);
- new and empty, or made before migrations existed (tables, no `alembic_version`): brought to
  the head by itself, since the baseline creates only what is missing;
- behind: upgraded by itself when every pending migration is ADDITIVE (new tables, nullable
  columns, indexes: nothing existing changes, and the code before it works on the result),
  because then a crawl can do it safely while another, older crawl still runs; otherwise
  refused with one line naming `scrapy pindb upgrade`, which a user runs after a backup;
- ahead, at a revision this code does not know: refused with one line (a newer version of the
  project made it; this one would misread it).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

logger = logging.getLogger(__name__)

HEAD = "0003"  # the newest migration's revision (tests/db/test_schema.py checks it)
MIGRATIONS = Path(__file__).with_name("migrations")
_lock = threading.Lock()
_unpacked: list[Path] = []


class SchemaError(Exception):
    """The database's schema does not suit this code; the message says what to do, in one line."""


def revision_of(conn: Connection) -> str | None:
    """The database's schema revision; None when it has none (new, or made before migrations)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine, where: str) -> str | None:
    """Bring the database at `engine` (named `where` in messages) to HEAD if that is safe, or
    raise SchemaError saying why not and what to run. Returns what it did, in a line, if anything."""
    with engine.connect() as conn:
        current = revision_of(conn)
    if current == HEAD:
        return None
    with _lock:
        pending = _pending(current, where)
        unsafe = [rev for rev in pending if not getattr(rev.module, "ADDITIVE", False)]
        if unsafe:
            raise SchemaError(
                f"database {where} is at schema revision {current}, this code needs {HEAD}, and "
                f"{', '.join(r.revision for r in unsafe)} changes existing tables: back it up, then run "
                f"`scrapy pindb upgrade -s DATABASE_URL=...`"
            )
        _upgrade_racing(engine)
    done = f"database {where}: schema {current or 'none'} -> {HEAD} (nothing that was there changed)"
    logger.info("%s", done)
    return done


def _upgrade_racing(engine: Engine, tries: int = 5) -> None:
    """upgrade(), when another process may be upgrading the same database at the same moment
    (two crawls started together on a new file): SQLite runs DDL outside transactions, so the
    other's tables can appear half-way through ours. What is left after a failure is either
    the other's finished work (at HEAD: done) or worth one more try, since every migration
    checks what is there."""
    for attempt in range(1, tries + 1):
        try:
            upgrade(engine)
            return
        except Exception:
            time.sleep(0.2 * attempt)
            with engine.connect() as conn:
                if revision_of(conn) == HEAD:
                    return
            if attempt == tries:
                raise


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Apply every pending migration, ADDITIVE or not: (revision before, revision after)."""
    from alembic import command

    with engine.begin() as conn:
        before = revision_of(conn)
        command.upgrade(alembic_config(conn), "head")
        after = revision_of(conn)
    return before, after


def _pending(current: str | None, where: str) -> list[Any]:
    """The migrations from `current` to HEAD, oldest first."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(alembic_config(None))
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError:
            raise SchemaError(
                f"database {where} is at schema revision {current}, which this code does not know "
                f"(its newest is {HEAD}): a newer version of the project upgraded it; run that version"
            ) from None
    pending = []
    revision: Any = script.get_revision("head")
    while revision is not None and revision.revision != current:  # the history is one line
        pending.append(revision)
        down = revision.down_revision
        revision = script.get_revision(down) if isinstance(down, str) else None
    return list(reversed(pending))


def alembic_config(conn: Connection | None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_migrations_folder()))
    config.attributes["connection"] = conn
    return config


def _migrations_folder() -> Path:
    """MIGRATIONS, as a folder Alembic can read: under Scrapyd the project runs from a zipped egg,
    whose files are only resources, so they are unpacked once into a temporary folder."""
    if MIGRATIONS.is_dir():
        return MIGRATIONS
    if not _unpacked:
        import atexit
        import shutil
        import tempfile
        from importlib.resources import files

        folder = Path(tempfile.mkdtemp(prefix="crawler-migrations-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        package = files("crawler.db.migrations")
        for source, target in ((package, folder), (package / "versions", folder / "versions")):
            target.mkdir(exist_ok=True)
            for entry in source.iterdir():
                if entry.is_file() and entry.name.endswith((".py", ".mako")):
                    (target / entry.name).write_bytes(entry.read_bytes())
        _unpacked.append(folder)
    return _unpacked[0]
