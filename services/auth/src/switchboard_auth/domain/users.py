"""Users: what a valid email and password are, and how a new user is made: with a
personal team of their own, which they administer."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import InvalidInput

from switchboard_auth.domain.passwords import MIN_PASSWORD_LENGTH, hash_password_off_loop
from switchboard_auth.store.tables import teams, users
from switchboard_auth.store.teams import TeamRow, insert_team, put_member
from switchboard_auth.store.users import UserRow, insert_user

PERSONAL_TEAM_ROLE = "team_admin"

MAX_EMAIL_LENGTH = 320


def normalize_email(email: str) -> str:
    """Emails compare case-insensitively; stored lower-cased and trimmed."""
    normalized = email.strip().lower()
    local, at, domain = normalized.partition("@")
    if not at or not local or not domain or "@" in domain or len(normalized) > MAX_EMAIL_LENGTH:
        raise InvalidInput(f"{email!r} is not an email address")
    return normalized


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"passwords need at least {MIN_PASSWORD_LENGTH} characters")


async def new_user(email: str, password: str, *, is_admin: bool, now: datetime) -> UserRow:
    check_password(password)
    return UserRow(
        id=str(uuid.uuid4()),
        email=normalize_email(email),
        password_hash=await hash_password_off_loop(password),
        is_admin=is_admin,
        created_at=now,
    )


async def store_user(session: AsyncSession, user: UserRow) -> None:
    """Adds the user and their personal team (`Conflict` when the email is taken)."""
    await insert_user(session, user)
    await add_personal_team(session, user.id, user.email, user.created_at)


async def add_personal_team(session: AsyncSession, user_id: str, email: str, now: datetime) -> None:
    team = TeamRow(id=str(uuid.uuid4()), name=f"{email} (personal)", personal_of=user_id, created_at=now)
    await insert_team(session, team)
    await put_member(session, team.id, user_id, PERSONAL_TEAM_ROLE, now)


async def ensure_personal_teams(session: AsyncSession, now: datetime) -> int:
    """Gives users made before teams existed their personal team; how many were given one."""
    rows = await session.execute(
        select(users.c.id, users.c.email).where(
            ~select(teams.c.id).where(teams.c.personal_of == users.c.id).exists()
        )
    )
    missing = list(rows)
    for user_id, email in missing:
        await add_personal_team(session, user_id, email, now)
    return len(missing)
