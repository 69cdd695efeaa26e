"""Queries over the tools table; every tool comes back with its gateway's name and URL."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping

from sqlalchemy import and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from switchboard_registry.domain.models import Page, Tool
from switchboard_registry.store.tables import gateways, tools

# Tools joined with their gateway, in the shape `tool_from_row` reads.
SELECT_TOOLS = select(
    tools.c.id,
    tools.c.name,
    tools.c.gateway_id,
    gateways.c.name.label("gateway_name"),
    gateways.c.url.label("gateway_url"),
    tools.c.definition_json,
).join_from(tools, gateways, tools.c.gateway_id == gateways.c.id)
_ordered = (gateways.c.name, tools.c.name)


async def insert_tools(s: AsyncSession, gateway_id: str, definitions: Mapping[str, str]) -> None:
    """Add tools to a gateway; `definitions` maps upstream tool names to their JSON."""
    if definitions:
        rows = [
            {"id": str(uuid.uuid4()), "gateway_id": gateway_id, "name": name, "definition_json": definition}
            for name, definition in definitions.items()
        ]
        await s.execute(insert(tools), rows)


async def replace_tools(s: AsyncSession, gateway_id: str, definitions: Mapping[str, str]) -> bool:
    """Make a gateway's tools exactly `definitions`; False when they already were.

    A tool that is still listed keeps its id, so virtual servers that chose it keep it.
    """
    query = select(tools.c.name, tools.c.id, tools.c.definition_json).where(tools.c.gateway_id == gateway_id)
    existing = {row.name: row for row in await s.execute(query)}
    gone = [row.id for name, row in existing.items() if name not in definitions]
    if gone:
        await s.execute(delete(tools).where(tools.c.id.in_(gone)))
    changed = [
        {"tool_id": existing[name].id, "definition": definition}
        for name, definition in definitions.items()
        if name in existing and existing[name].definition_json != definition
    ]
    if changed:
        await s.execute(
            update(tools)
            .where(tools.c.id == bindparam("tool_id"))
            .values(definition_json=bindparam("definition")),
            changed,
        )
    new = {name: definition for name, definition in definitions.items() if name not in existing}
    await insert_tools(s, gateway_id, new)
    return bool(gone or changed or new)


async def tools_of_gateway(s: AsyncSession, gateway_id: str) -> list[Tool]:
    rows = await s.execute(SELECT_TOOLS.where(tools.c.gateway_id == gateway_id).order_by(tools.c.name))
    return [tool_from_row(row) for row in rows]


async def list_tools(s: AsyncSession, *, gateway_id: str | None, limit: int, offset: int) -> Page[Tool]:
    query, count = SELECT_TOOLS, select(func.count()).select_from(tools)
    if gateway_id is not None:
        query, count = (
            query.where(tools.c.gateway_id == gateway_id),
            count.where(tools.c.gateway_id == gateway_id),
        )
    rows = await s.execute(query.order_by(*_ordered).limit(limit).offset(offset))
    return Page([tool_from_row(row) for row in rows], int(await s.scalar(count) or 0))


async def all_tools(s: AsyncSession) -> list[Tool]:
    return [tool_from_row(row) for row in await s.execute(SELECT_TOOLS.order_by(*_ordered))]


async def tools_by_id(s: AsyncSession, ids: Collection[str]) -> list[Tool]:
    if not ids:
        return []
    return [tool_from_row(row) for row in await s.execute(SELECT_TOOLS.where(tools.c.id.in_(list(ids))))]


async def tools_by_name(s: AsyncSession, pairs: Collection[tuple[str, str]]) -> list[Tool]:
    """Tools by (gateway name, upstream tool name)."""
    if not pairs:
        return []
    match = or_(*(and_(gateways.c.name == gateway, tools.c.name == tool) for gateway, tool in pairs))
    return [tool_from_row(row) for row in await s.execute(SELECT_TOOLS.where(match))]


def tool_from_row(row: Row) -> Tool:
    return Tool(
        id=row.id,
        name=row.name,
        gateway_id=row.gateway_id,
        gateway_name=row.gateway_name,
        gateway_url=row.gateway_url,
        definition_json=row.definition_json,
    )
