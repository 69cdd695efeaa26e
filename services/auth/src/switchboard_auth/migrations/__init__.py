"""The auth database's migrations (Alembic): `env.py` and `versions/` beside this file.

Run them with `switchboard migrate auth` (services also run them at start). A new
revision goes in `versions/`, revising the current head; the test
tests/storage/test_schema_matches_models.py fails until the revisions produce
exactly the tables in `store/tables.py`. See docs/storage.md.
"""

from __future__ import annotations

from pathlib import Path

from switchboard_core.migrations import MigrationSet

from switchboard_auth.store.tables import metadata

MIGRATIONS = MigrationSet(
    service="auth",
    directory=Path(__file__).parent,
    metadata=metadata,
    baseline="0001",
    baseline_tables=frozenset(
        {
            "users",
            "api_tokens",
            "signing_keys",
        }
    ),
)

__all__ = ["MIGRATIONS"]
