"""Queries over virtual servers, the gateways they include and their naming."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import Conflict

from switchboard_registry.domain.access import ALL_ITEMS, ItemViewers, Viewer
from switchboard_registry.domain.models import Access, GatewayRef, Naming, Page, Server
from switchboard_registry.store.listings import (
    PROMPTS,
    RESOURCES,
    TEMPLATES,
    TOOLS,
    access_columns,
    access_of,
    count_per_server,
)
from switchboard_registry.store.tables import gateways, server_gateways, servers, utc
from switchboard_registry.store.visible import visible_to


def _with_counts(items: ItemViewers) -> Select[Any]:
    """Servers with how many items of each kind they expose, of those `items` sees."""
    return select(
        servers,
        count_per_server(TOOLS, servers.c.id, items.tools).label("tool_count"),
        count_per_server(RESOURCES, servers.c.id, items.resources).label("resource_count"),
        count_per_server(TEMPLATES, servers.c.id, items.resources).label("resource_template_count"),
        count_per_server(PROMPTS, servers.c.id, items.prompts).label("prompt_count"),
    )


async def insert_server(
    s: AsyncSession,
    *,
    id: str,
    name: str,
    description: str,
    naming: Naming,
    at: datetime,
    created_by: str,
    access: Access,
) -> None:
    values = dict(
        id=id,
        name=name,
        description=description,
        created_at=at,
        created_by=created_by,
        **access_columns(access),
    )
    try:
        await s.execute(insert(servers).values(**values, **_naming_columns(naming)))
    except IntegrityError as exc:
        raise Conflict(f"a server named {name!r} already exists") from exc


async def update_server(
    s: AsyncSession, server_id: str, *, name: str, description: str, naming: Naming
) -> None:
    values = dict(name=name, description=description, **_naming_columns(naming))
    try:
        await s.execute(update(servers).where(servers.c.id == server_id).values(**values))
    except IntegrityError as exc:
        raise Conflict(f"a server named {name!r} already exists") from exc


async def get_server(s: AsyncSession, server_id: str, items: ItemViewers = ALL_ITEMS) -> Server | None:
    row = (await s.execute(_with_counts(items).where(servers.c.id == server_id))).one_or_none()
    return None if row is None else _server(row)


async def list_servers(
    s: AsyncSession, viewer: Viewer, items: ItemViewers, *, limit: int, offset: int
) -> Page[Server]:
    seen = visible_to(servers, viewer)
    query = _with_counts(items).where(seen).order_by(servers.c.name).limit(limit).offset(offset)
    rows = (await s.execute(query)).all()
    total = await s.scalar(select(func.count()).select_from(servers).where(seen))
    return Page([_server(row) for row in rows], int(total or 0))


async def every_server(s: AsyncSession) -> list[Server]:
    return [_server(row) for row in await s.execute(_with_counts(ALL_ITEMS).order_by(servers.c.id))]


async def set_server_access(s: AsyncSession, server_id: str, access: Access) -> None:
    await s.execute(update(servers).where(servers.c.id == server_id).values(**access_columns(access)))


async def delete_server(s: AsyncSession, server_id: str) -> bool:
    result = await s.execute(delete(servers).where(servers.c.id == server_id))
    return result.rowcount > 0


async def included_gateways(s: AsyncSession, server_id: str) -> list[GatewayRef]:
    """Gateways a server includes whole, in the order given."""
    query = (
        select(gateways.c.id, gateways.c.name)
        .join(server_gateways, server_gateways.c.gateway_id == gateways.c.id)
        .where(server_gateways.c.server_id == server_id)
        .order_by(server_gateways.c.position)
    )
    return [GatewayRef(row.id, row.name) for row in await s.execute(query)]


async def set_included_gateways(s: AsyncSession, server_id: str, gateway_ids: Sequence[str]) -> None:
    await s.execute(delete(server_gateways).where(server_gateways.c.server_id == server_id))
    if gateway_ids:
        rows = [
            {"server_id": server_id, "gateway_id": gateway_id, "position": i}
            for i, gateway_id in enumerate(gateway_ids)
        ]
        await s.execute(insert(server_gateways), rows)


async def servers_including(s: AsyncSession, gateway_id: str) -> list[str]:
    """Ids of the servers that include this gateway whole."""
    query = select(server_gateways.c.server_id).where(server_gateways.c.gateway_id == gateway_id)
    return list(await s.scalars(query))


def _naming_columns(naming: Naming) -> dict[str, object]:
    return {"naming_mode": naming.mode, "separator": naming.separator, "renames": dict(naming.renames)}


def _server(row: Row) -> Server:
    return Server(
        id=row.id,
        name=row.name,
        description=row.description,
        naming=Naming(row.naming_mode, row.separator, dict(row.renames or {})),
        created_at=utc(row.created_at),
        created_by=row.created_by,
        tool_count=int(row.tool_count),
        resource_count=int(row.resource_count),
        resource_template_count=int(row.resource_template_count),
        prompt_count=int(row.prompt_count),
        access=access_of(row),
    )
