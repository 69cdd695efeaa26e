"""For the operator's CLI: work on the auth database directly, with no server running."""

from __future__ import annotations

import sys
from datetime import datetime

from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.migrations import StartupPolicy, prepare
from switchboard_core.security.sealing import Resealed

from switchboard_auth.domain.bootstrap import admin_banner
from switchboard_auth.domain.key_resealing import reseal_signing_keys
from switchboard_auth.migrations import MIGRATIONS
from switchboard_auth.settings import AuthSettings
from switchboard_auth.startup import open_auth


async def ensure_bootstrap(settings: AuthSettings) -> str | None:
    """Prepares the database; returns the admin password if one was just generated.

    The caller must show it: it exists nowhere else and is never returned again.
    """
    opened = await open_auth(settings, connect_attempts=1)
    await opened.close()
    return opened.generated_admin_password


async def create_token(
    settings: AuthSettings,
    *,
    email: str,
    name: str,
    ttl_days: int | None,
    scopes: list[str] | None = None,
    servers: list[str] | None = None,
    cidrs: list[str] | None = None,
) -> tuple[str, datetime]:
    """Mints an API token for the user `email` (`NotFound` if there is none).

    On a fresh database this also creates the first admin; a generated password is
    then printed to stderr, since it would otherwise be lost.
    """
    opened = await open_auth(settings, connect_attempts=1)
    try:
        if opened.generated_admin_password is not None:
            print(
                admin_banner(settings.bootstrap_admin_email, opened.generated_admin_password), file=sys.stderr
            )
        issued = await opened.accounts.mint_offline(
            email=email, name=name, ttl_days=ttl_days, scopes=scopes, servers=servers, cidrs=cidrs
        )
    finally:
        await opened.close()
    return issued.access_token, issued.expires_at


async def reseal_keys(settings: AuthSettings) -> Resealed:
    """Seal every signing key with the first of `SWITCHBOARD_SECRET_KEYS`."""
    keys = settings.sealing_keys()
    engine = create_engine(settings.database_url)
    try:
        await prepare(
            settings.database_url, MIGRATIONS, StartupPolicy.of(settings, attempts=1), sealing_keys=keys
        )
        return await reseal_signing_keys(sessionmaker(engine), keys)
    finally:
        await engine.dispose()
