"""Queries on `users`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, func, insert, select, update
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
    failed_logins: int = 0
    locked_until: datetime | None = None
    password_changed_at: datetime | None = None


_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.password_hash,
    users.c.is_admin,
    users.c.created_at,
    users.c.failed_logins,
    users.c.locked_until,
    users.c.password_changed_at,
)


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


async def note_failed_login(session: AsyncSession, user_id: str, *, limit: int, lock_until: datetime) -> bool:
    """One more failed login; the one reaching `limit` locks the account until `lock_until`
    (True when this one did).

    Counted in SQL, so failures on several replicas at once all count."""
    await session.execute(
        update(users).where(users.c.id == user_id).values(failed_logins=users.c.failed_logins + 1)
    )
    locked = await session.execute(
        update(users)
        .where(users.c.id == user_id, users.c.failed_logins >= limit)
        .values(failed_logins=0, locked_until=lock_until)
    )
    return locked.rowcount > 0


async def clear_failed_logins(session: AsyncSession, user_id: str) -> None:
    await session.execute(
        update(users).where(users.c.id == user_id).values(failed_logins=0, locked_until=None)
    )


async def set_password_hash(session: AsyncSession, user_id: str, password_hash: str, at: datetime) -> None:
    await session.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, password_changed_at=at, failed_logins=0, locked_until=None)
    )


async def set_admin(session: AsyncSession, user_id: str, is_admin: bool) -> None:
    await session.execute(update(users).where(users.c.id == user_id).values(is_admin=is_admin))


async def delete_user(session: AsyncSession, user_id: str) -> None:
    await session.execute(delete(users).where(users.c.id == user_id))


async def count_admins(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(users).where(users.c.is_admin.is_(True)))
