"""The registry database's migrations (Alembic): `env.py` and `versions/` beside this file.

Run them with `switchboard migrate registry` (services also run them at start). A new
revision goes in `versions/`, revising the current head; the test
tests/storage/test_schema_matches_models.py fails until the revisions produce
exactly the tables in `store/tables.py`. See docs/storage.md.
"""

from __future__ import annotations

from pathlib import Path

from switchboard_core.migrations import MigrationSet

from switchboard_registry.store.tables import metadata

MIGRATIONS = MigrationSet(
    service="registry",
    directory=Path(__file__).parent,
    metadata=metadata,
    baseline="0001",
    baseline_tables=frozenset(
        {
            "gateways",
            "tools",
            "prompts",
            "resources",
            "resource_templates",
            "servers",
            "server_tools",
            "server_prompts",
            "server_resources",
            "server_resource_templates",
            "server_gateways",
            "catalog_revision",
        }
    ),
)

__all__ = ["MIGRATIONS"]
