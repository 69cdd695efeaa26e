"""Fixtures of the auth tests: the settings the shared `auth` fixture (tests/conftest.py)
starts the service with, on each backend in turn."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from switchboard_auth import AuthService, AuthSettings
from switchboard_core.security.sealing import new_key_entry
from switchboard_testing.auth_service import ADMIN_EMAIL, ADMIN_PASSWORD
from switchboard_testing.replicas import started_replicas


@pytest.fixture
def auth_settings(tmp_path, database_url: str) -> AuthSettings:
    """On each backend in turn: SQLite, then Postgres through PgBouncer."""
    return AuthSettings(
        data_dir=tmp_path,
        auth_database_url=database_url,
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD,
    )


@pytest.fixture
async def replicas(auth_settings: AuthSettings, redis_server) -> AsyncIterator[list[AuthService]]:
    """Two started auth replicas on one database and Redis, each with its own Redis
    connections (as two processes have), sealing their keys with the same secret key."""
    settings = auth_settings.model_copy(
        update={"redis_url": redis_server.url, "secret_keys": SecretStr(new_key_entry())}
    )
    async with started_replicas(AuthService, settings, "auth") as started:
        yield started
