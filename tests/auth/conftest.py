"""Fixtures of the auth tests: the settings the shared `auth` fixture (tests/conftest.py)
starts the service with, on each backend in turn."""

from __future__ import annotations

import pytest
from switchboard_auth import AuthSettings
from switchboard_testing.auth_service import ADMIN_EMAIL, ADMIN_PASSWORD


@pytest.fixture
def auth_settings(tmp_path, database_url: str) -> AuthSettings:
    """On each backend in turn: SQLite, then Postgres through PgBouncer."""
    return AuthSettings(
        data_dir=tmp_path,
        auth_database_url=database_url,
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD,
    )
