"""Alembic, imported quietly: on import it logs the setup of each of its plugins at
INFO, and on every run its dialect choices. What a migration changed is logged by
`switchboard_core.migrations` instead."""

import logging

logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.autogenerate import compare_metadata  # noqa: E402
from alembic.config import Config  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from alembic.util import CommandError  # noqa: E402

__all__ = ["CommandError", "Config", "MigrationContext", "ScriptDirectory", "command", "compare_metadata"]
