"""The first administrator: created on start when the user table is empty."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.errors import Conflict

from switchboard_auth.domain.passwords import generate_password
from switchboard_auth.domain.users import new_user, store_user
from switchboard_auth.store.users import any_user_exists


async def ensure_admin(
    sessions: async_sessionmaker, *, email: str, password: str, clock: Callable[[], datetime]
) -> str | None:
    """Creates the admin if no user exists; returns the password if it had to be generated.

    The generated password exists nowhere else, so the caller shows it once; on every
    later start a user exists and nothing is generated.
    """
    async with sessions() as session:
        if await any_user_exists(session):
            return None
    generated = None if password else generate_password()
    # Hash outside the transaction: it takes a while and needs no lock.
    admin = await new_user(email, password or generated, is_admin=True, now=clock())
    try:
        async with sessions.begin() as session:
            if await any_user_exists(session):
                return None
            await store_user(session, admin)
    except Conflict:
        # Another replica bootstrapped at the same moment.
        return None
    return generated


def admin_banner(email: str, password: str) -> str:
    line = "=" * 72
    return (
        f"\n{line}\n"
        "  Switchboard created the first administrator.\n"
        f"    email:    {email}\n"
        f"    password: {password}\n"
        "  This password is shown only this once. Store it now, then log in with\n"
        "  POST /auth/login. Set SWITCHBOARD_BOOTSTRAP_ADMIN_PASSWORD to choose it.\n"
        f"{line}\n"
    )
