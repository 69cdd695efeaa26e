"""Queries over the gateways table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import Conflict

from switchboard_registry.domain.models import Gateway, Page
from switchboard_registry.store.tables import gateways, tools, utc

_tool_count = (
    select(func.count()).select_from(tools).where(tools.c.gateway_id == gateways.c.id).scalar_subquery()
)
_with_count = select(gateways, _tool_count.label("tool_count"))


async def insert_gateway(
    s: AsyncSession,
    *,
    id: str,
    name: str,
    url: str,
    at: datetime,
    created_by: str,
    server_info: dict[str, Any],
) -> None:
    values = dict(
        id=id,
        name=name,
        url=url,
        created_at=at,
        created_by=created_by,
        last_refreshed_at=at,
        server_info=server_info,
    )
    try:
        await s.execute(insert(gateways).values(**values))
    except IntegrityError as exc:
        raise Conflict(f"a gateway named {name!r} or serving {url} already exists") from exc


async def taken(s: AsyncSession, name: str, url: str) -> list[str]:
    """What of `name` and `url` another gateway already has, as readable phrases."""
    rows = (
        await s.execute(
            select(gateways.c.name, gateways.c.url).where(or_(gateways.c.name == name, gateways.c.url == url))
        )
    ).all()
    found = []
    if any(row.name == name for row in rows):
        found.append(f"a gateway named {name!r} already exists")
    if any(row.url == url for row in rows):
        found.append(f"a gateway serving {url} already exists")
    return found


async def mark_refreshed(
    s: AsyncSession, gateway_id: str, *, at: datetime, server_info: dict[str, Any]
) -> bool:
    result = await s.execute(
        update(gateways)
        .where(gateways.c.id == gateway_id)
        .values(last_refreshed_at=at, server_info=server_info)
    )
    return result.rowcount > 0


async def get_gateway(s: AsyncSession, gateway_id: str) -> Gateway | None:
    row = (await s.execute(_with_count.where(gateways.c.id == gateway_id))).one_or_none()
    return None if row is None else _gateway(row)


async def list_gateways(s: AsyncSession, *, limit: int, offset: int) -> Page[Gateway]:
    rows = (await s.execute(_with_count.order_by(gateways.c.name).limit(limit).offset(offset))).all()
    total = await s.scalar(select(func.count()).select_from(gateways))
    return Page([_gateway(row) for row in rows], int(total or 0))


async def delete_gateway(s: AsyncSession, gateway_id: str) -> bool:
    result = await s.execute(delete(gateways).where(gateways.c.id == gateway_id))
    return result.rowcount > 0


def _gateway(row: Row) -> Gateway:
    return Gateway(
        id=row.id,
        name=row.name,
        url=row.url,
        created_at=utc(row.created_at),
        created_by=row.created_by,
        last_refreshed_at=utc(row.last_refreshed_at),
        server_info=row.server_info or {},
        tool_count=int(row.tool_count),
    )
