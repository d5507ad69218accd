"""Alembic migrations of the project's database (crawler/db/schema.py applies them).

A new migration, after changing crawler/db/models.py:

    python -m crawler.db.migrations "what changes"

writes versions/NNNN_what_changes.py from the difference between the models and a scratch
database at the current head. Fill in `ADDITIVE` (True only if it adds tables, nullable columns
or indexes, and old code keeps working on the result), review it, and raise HEAD in
crawler/db/schema.py to its revision.
"""
