"""Queries over the gateways table."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import Conflict

from switchboard_registry.domain.access import ALL_ITEMS, ItemViewers, Viewer
from switchboard_registry.domain.models import (
    AVAILABLE,
    UNAVAILABLE,
    Access,
    Gateway,
    GatewayRef,
    GatewayStatus,
    HealthTarget,
    Page,
)
from switchboard_registry.store.listings import (
    PROMPTS,
    RESOURCES,
    TEMPLATES,
    TOOLS,
    access_columns,
    access_of,
    count_per_gateway,
)
from switchboard_registry.store.tables import gateways, utc
from switchboard_registry.store.visible import visible_to


def _with_counts(items: ItemViewers) -> Select[Any]:
    """Gateways with how many items of each kind they list, of those `items` sees."""
    return select(
        gateways,
        count_per_gateway(TOOLS, items.tools).label("tool_count"),
        count_per_gateway(RESOURCES, items.resources).label("resource_count"),
        count_per_gateway(TEMPLATES, items.resources).label("resource_template_count"),
        count_per_gateway(PROMPTS, items.prompts).label("prompt_count"),
    )


async def insert_gateway(
    s: AsyncSession,
    *,
    id: str,
    name: str,
    url: str,
    at: datetime,
    created_by: str,
    server_info: dict[str, Any],
    capabilities: dict[str, Any],
    access: Access,
    auth_sealed: str | None = None,
    auth_public: dict[str, Any] | None = None,
) -> None:
    values = dict(
        auth_sealed=auth_sealed,
        auth_public=auth_public,
        id=id,
        name=name,
        url=url,
        created_at=at,
        created_by=created_by,
        last_refreshed_at=at,
        server_info=server_info,
        capabilities=capabilities,
        status=AVAILABLE,
        last_seen_ok_at=at,
        **access_columns(access),
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
        .values(last_refreshed_at=at, last_seen_ok_at=at, server_info=server_info)
    )
    return result.rowcount > 0


async def set_status(
    s: AsyncSession,
    gateway_id: str,
    status: GatewayStatus,
    *,
    last_seen_ok_at: datetime | None,
    error: str | None = None,
) -> bool:
    """Record a new health status; False (and nothing written) when it already was that."""
    values: dict[str, Any] = {"status": status}
    if last_seen_ok_at is not None:
        values["last_seen_ok_at"] = last_seen_ok_at
    if status == UNAVAILABLE:
        values["last_error"] = error
    result = await s.execute(
        update(gateways).where(gateways.c.id == gateway_id, gateways.c.status != status).values(**values)
    )
    return result.rowcount > 0


_targets = select(gateways.c.id, gateways.c.name, gateways.c.url, gateways.c.status, gateways.c.auth_sealed)


def _target(row: Row) -> HealthTarget:
    return HealthTarget(row.id, row.name, row.url, row.status, row.auth_sealed or "")


async def health_targets(s: AsyncSession) -> list[HealthTarget]:
    return [_target(row) for row in await s.execute(_targets.order_by(gateways.c.name))]


async def health_target(s: AsyncSession, gateway_id: str) -> HealthTarget | None:
    row = (await s.execute(_targets.where(gateways.c.id == gateway_id))).one_or_none()
    return None if row is None else _target(row)


async def set_auth(
    s: AsyncSession, gateway_id: str, *, sealed: str | None, public: dict[str, Any] | None
) -> bool:
    """The gateway's new credentials (None: none); False when there is no such gateway."""
    result = await s.execute(
        update(gateways).where(gateways.c.id == gateway_id).values(auth_sealed=sealed, auth_public=public)
    )
    return result.rowcount > 0


async def sealed_credentials(s: AsyncSession) -> list[tuple[str, str]]:
    """(gateway id, sealed credentials) of every gateway that has some."""
    query = select(gateways.c.id, gateways.c.auth_sealed).where(gateways.c.auth_sealed.is_not(None))
    return [(row.id, row.auth_sealed) for row in await s.execute(query.order_by(gateways.c.id))]


async def reseal(s: AsyncSession, gateway_id: str, *, was: str, now: str) -> bool:
    """Replace the sealed credentials if they are still `was` (nobody changed them meanwhile)."""
    result = await s.execute(
        update(gateways)
        .where(gateways.c.id == gateway_id, gateways.c.auth_sealed == was)
        .values(auth_sealed=now)
    )
    return result.rowcount > 0


async def unavailable_ids(s: AsyncSession) -> set[str]:
    """Gateways whose items no catalog serves right now."""
    return set(await s.scalars(select(gateways.c.id).where(gateways.c.status == UNAVAILABLE)))


async def replace_capabilities(s: AsyncSession, gateway_id: str, capabilities: dict[str, Any]) -> bool:
    """Store the upstream's capabilities; False when they were already these."""
    stored = await s.scalar(select(gateways.c.capabilities).where(gateways.c.id == gateway_id))
    if stored == capabilities:
        return False
    await s.execute(update(gateways).where(gateways.c.id == gateway_id).values(capabilities=capabilities))
    return True


async def get_gateway(s: AsyncSession, gateway_id: str, items: ItemViewers = ALL_ITEMS) -> Gateway | None:
    row = (await s.execute(_with_counts(items).where(gateways.c.id == gateway_id))).one_or_none()
    return None if row is None else _gateway(row)


async def gateways_by_id(s: AsyncSession, ids: Collection[str]) -> list[Gateway]:
    if not ids:
        return []
    rows = await s.execute(
        _with_counts(ALL_ITEMS).where(gateways.c.id.in_(list(ids))).order_by(gateways.c.name)
    )
    return [_gateway(row) for row in rows]


async def gateway_refs(s: AsyncSession, refs: Collection[str], viewer: Viewer) -> list[GatewayRef]:
    """Gateways the viewer sees whose id or name is among `refs`."""
    if not refs:
        return []
    query = select(gateways.c.id, gateways.c.name).where(
        or_(gateways.c.id.in_(list(refs)), gateways.c.name.in_(list(refs))), visible_to(gateways, viewer)
    )
    return [GatewayRef(row.id, row.name) for row in await s.execute(query)]


async def list_gateways(
    s: AsyncSession, viewer: Viewer, items: ItemViewers, *, limit: int, offset: int
) -> Page[Gateway]:
    seen = visible_to(gateways, viewer)
    query = _with_counts(items).where(seen).order_by(gateways.c.name).limit(limit).offset(offset)
    rows = (await s.execute(query)).all()
    total = await s.scalar(select(func.count()).select_from(gateways).where(seen))
    return Page([_gateway(row) for row in rows], int(total or 0))


async def gateway_access(s: AsyncSession, gateway_id: str) -> Access | None:
    query = select(gateways.c.owner_id, gateways.c.team_id, gateways.c.visibility).where(
        gateways.c.id == gateway_id
    )
    row = (await s.execute(query)).one_or_none()
    return None if row is None else access_of(row)


async def set_gateway_access(s: AsyncSession, gateway_id: str, access: Access) -> None:
    """The gateway's new access, carried to everything it lists."""
    values = access_columns(access)
    await s.execute(update(gateways).where(gateways.c.id == gateway_id).values(**values))
    for kind in (TOOLS, RESOURCES, TEMPLATES, PROMPTS):
        await s.execute(update(kind.table).where(kind.table.c.gateway_id == gateway_id).values(**values))


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
        capabilities=row.capabilities or {},
        tool_count=int(row.tool_count),
        resource_count=int(row.resource_count),
        resource_template_count=int(row.resource_template_count),
        prompt_count=int(row.prompt_count),
        access=access_of(row),
        status=row.status,
        last_seen_ok_at=None if row.last_seen_ok_at is None else utc(row.last_seen_ok_at),
        last_error=row.last_error,
        auth=row.auth_public,
        auth_sealed=row.auth_sealed or "",
    )
