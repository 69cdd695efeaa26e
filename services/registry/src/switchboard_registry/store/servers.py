"""Queries over virtual servers and the tools each one exposes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import Conflict

from switchboard_registry.domain.models import Page, Server, Tool
from switchboard_registry.store.tables import server_tools, servers, tools, utc
from switchboard_registry.store.tools import SELECT_TOOLS, tool_from_row

_tool_count = (
    select(func.count())
    .select_from(server_tools)
    .where(server_tools.c.server_id == servers.c.id)
    .scalar_subquery()
)
_with_count = select(servers, _tool_count.label("tool_count"))


async def insert_server(
    s: AsyncSession,
    *,
    id: str,
    name: str,
    description: str,
    bare_names: bool,
    at: datetime,
    created_by: str,
    tool_ids: Sequence[str],
) -> None:
    try:
        await s.execute(
            insert(servers).values(
                id=id,
                name=name,
                description=description,
                bare_names=bare_names,
                created_at=at,
                created_by=created_by,
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"a server named {name!r} already exists") from exc
    if tool_ids:
        rows = [{"server_id": id, "tool_id": tool_id, "position": i} for i, tool_id in enumerate(tool_ids)]
        await s.execute(insert(server_tools), rows)


async def server_name_taken(s: AsyncSession, name: str) -> bool:
    return await s.scalar(select(servers.c.id).where(servers.c.name == name)) is not None


async def get_server(s: AsyncSession, server_id: str) -> Server | None:
    row = (await s.execute(_with_count.where(servers.c.id == server_id))).one_or_none()
    return None if row is None else _server(row)


async def list_servers(s: AsyncSession, *, limit: int, offset: int) -> Page[Server]:
    rows = (await s.execute(_with_count.order_by(servers.c.name).limit(limit).offset(offset))).all()
    total = await s.scalar(select(func.count()).select_from(servers))
    return Page([_server(row) for row in rows], int(total or 0))


async def tools_of_server(s: AsyncSession, server_id: str) -> list[Tool]:
    query = (
        SELECT_TOOLS.join(server_tools, server_tools.c.tool_id == tools.c.id)
        .where(server_tools.c.server_id == server_id)
        .order_by(server_tools.c.position)
    )
    return [tool_from_row(row) for row in await s.execute(query)]


async def delete_server(s: AsyncSession, server_id: str) -> bool:
    result = await s.execute(delete(servers).where(servers.c.id == server_id))
    return result.rowcount > 0


def _server(row: Row) -> Server:
    return Server(
        id=row.id,
        name=row.name,
        description=row.description,
        bare_names=row.bare_names,
        created_at=utc(row.created_at),
        created_by=row.created_by,
        tool_count=int(row.tool_count),
    )
