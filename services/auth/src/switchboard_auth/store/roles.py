"""Queries on `roles` (the custom ones; built-in roles live in code)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import Conflict

from switchboard_auth.store.tables import roles


@dataclass(frozen=True, slots=True)
class RoleRow:
    name: str
    description: str
    permissions: frozenset[str]
    created_at: datetime


def _row(name: str, description: str, permissions: str, created_at: datetime) -> RoleRow:
    return RoleRow(name, description, frozenset(orjson.loads(permissions)), created_at)


_COLUMNS = (roles.c.name, roles.c.description, roles.c.permissions, roles.c.created_at)


async def insert_role(session: AsyncSession, role: RoleRow) -> None:
    try:
        async with session.begin_nested():
            await session.execute(
                insert(roles).values(
                    name=role.name,
                    description=role.description,
                    permissions=orjson.dumps(sorted(role.permissions)).decode(),
                    created_at=role.created_at,
                )
            )
    except IntegrityError as exc:
        raise Conflict(f"a role named {role.name!r} already exists") from exc


async def update_role(
    session: AsyncSession, name: str, *, description: str, permissions: frozenset[str]
) -> None:
    await session.execute(
        update(roles)
        .where(roles.c.name == name)
        .values(description=description, permissions=orjson.dumps(sorted(permissions)).decode())
    )


async def delete_role(session: AsyncSession, name: str) -> None:
    await session.execute(delete(roles).where(roles.c.name == name))


async def role_by_name(session: AsyncSession, name: str) -> RoleRow | None:
    row = (await session.execute(select(*_COLUMNS).where(roles.c.name == name))).first()
    return _row(*row) if row else None


async def roles_named(session: AsyncSession, names: set[str]) -> dict[str, RoleRow]:
    if not names:
        return {}
    rows = await session.execute(select(*_COLUMNS).where(roles.c.name.in_(sorted(names))))
    return {row[0]: _row(*row) for row in rows}


async def list_roles(session: AsyncSession) -> list[RoleRow]:
    rows = await session.execute(select(*_COLUMNS).order_by(roles.c.name))
    return [_row(*row) for row in rows]
