"""Queries on `users`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import Conflict

from switchboard_auth.store.tables import users


@dataclass(frozen=True, slots=True)
class UserRow:
    id: str
    email: str
    password_hash: str
    is_admin: bool
    created_at: datetime


_COLUMNS = (users.c.id, users.c.email, users.c.password_hash, users.c.is_admin, users.c.created_at)


async def insert_user(session: AsyncSession, user: UserRow) -> None:
    """Adds a user; `Conflict` when the email is taken."""
    try:
        async with session.begin_nested():
            await session.execute(
                insert(users).values(
                    id=user.id,
                    email=user.email,
                    password_hash=user.password_hash,
                    is_admin=user.is_admin,
                    created_at=user.created_at,
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"a user with email {user.email!r} already exists") from exc


async def user_by_email(session: AsyncSession, email: str) -> UserRow | None:
    row = (await session.execute(select(*_COLUMNS).where(users.c.email == email))).first()
    return UserRow(*row) if row else None


async def user_by_id(session: AsyncSession, user_id: str) -> UserRow | None:
    row = (await session.execute(select(*_COLUMNS).where(users.c.id == user_id))).first()
    return UserRow(*row) if row else None


async def any_user_exists(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().select_from(users))))


async def list_users(session: AsyncSession, *, limit: int, offset: int) -> list[UserRow]:
    rows = await session.execute(
        select(*_COLUMNS).order_by(users.c.created_at, users.c.id).limit(limit).offset(offset)
    )
    return [UserRow(*row) for row in rows]
