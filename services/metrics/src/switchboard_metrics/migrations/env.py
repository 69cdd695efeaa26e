"""Alembic environment of the metrics database; the work is shared by every service."""

from switchboard_core.migrations import run_environment

run_environment()
