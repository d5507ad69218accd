"""`python -m crawler.db.migrations "what changes"`: a new migration, written by Alembic from the
difference between crawler/db/models.py and a scratch database at the current head."""

from __future__ import annotations

import sys
import tempfile

from alembic import command

from crawler.db.engine import create_engine_for
from crawler.db.schema import HEAD, alembic_config, upgrade


def main(argv: list[str]) -> int:
    message = " ".join(argv).strip()
    if not message:
        print('usage: python -m crawler.db.migrations "what changes"', file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine_for(f"sqlite:///{folder}/scratch.sqlite3")
        upgrade(engine)
        with engine.begin() as conn:
            script = command.revision(
                alembic_config(conn), message=message, autogenerate=True, rev_id=f"{int(HEAD) + 1:04d}"
            )
        engine.dispose()
    path = getattr(script, "path", script)
    print(f"wrote {path}: review it, set ADDITIVE, and raise HEAD in crawler/db/schema.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
