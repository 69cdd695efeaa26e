"""Queries over what gateways list: tools, prompts, resources and resource templates.

Each kind has the same shape (see `tables._listed`): an id, its gateway, a key unique
per gateway (name, URI or URI template) and the upstream's definition; each comes
back with its gateway's name and URL. Virtual servers link to items through the
kind's own link table.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Column, Select, Table, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from switchboard_registry.domain.access import Viewer
from switchboard_registry.domain.models import Access, Page, Prompt, Resource, Tool
from switchboard_registry.store.tables import (
    gateways,
    prompts,
    resource_templates,
    resources,
    server_gateways,
    server_prompts,
    server_resource_templates,
    server_resources,
    server_tools,
    tools,
)
from switchboard_registry.store.visible import visible_to

T = TypeVar("T")


@dataclass(frozen=True)
class Kind(Generic[T]):
    noun: str
    table: Table
    key: Column[Any]
    # The server link table and its column naming the item.
    link: Table
    link_item: Column[Any]
    build: Callable[[Row], T]

    @property
    def select(self) -> Select:
        """Items joined with their gateway, in the shape `build` reads."""
        t = self.table
        return select(
            t.c.id,
            self.key.label("key"),
            t.c.gateway_id,
            gateways.c.name.label("gateway_name"),
            gateways.c.url.label("gateway_url"),
            t.c.definition_json,
            t.c.owner_id,
            t.c.team_id,
            t.c.visibility,
        ).join_from(t, gateways, t.c.gateway_id == gateways.c.id)

    @property
    def ordered(self) -> tuple[Column[Any], ...]:
        return (gateways.c.name, self.key)


def access_of(row: Row) -> Access:
    return Access(row.owner_id, row.team_id, row.visibility)


def access_columns(access: Access) -> dict[str, str]:
    return {"owner_id": access.owner_id, "team_id": access.team_id, "visibility": access.visibility}


def _tool(row: Row) -> Tool:
    return Tool(
        row.id,
        row.key,
        row.gateway_id,
        row.gateway_name,
        row.gateway_url,
        row.definition_json,
        access_of(row),
    )


def _prompt(row: Row) -> Prompt:
    return Prompt(
        row.id,
        row.key,
        row.gateway_id,
        row.gateway_name,
        row.gateway_url,
        row.definition_json,
        access_of(row),
    )


def _resource(row: Row) -> Resource:
    return Resource(
        row.id,
        row.key,
        row.gateway_id,
        row.gateway_name,
        row.gateway_url,
        row.definition_json,
        access_of(row),
    )


TOOLS = Kind("tool", tools, tools.c.name, server_tools, server_tools.c.tool_id, _tool)
PROMPTS = Kind("prompt", prompts, prompts.c.name, server_prompts, server_prompts.c.prompt_id, _prompt)
RESOURCES = Kind(
    "resource", resources, resources.c.uri, server_resources, server_resources.c.resource_id, _resource
)
TEMPLATES = Kind(
    "resource template",
    resource_templates,
    resource_templates.c.uri_template,
    server_resource_templates,
    server_resource_templates.c.template_id,
    _resource,
)


async def insert_items(
    s: AsyncSession, kind: Kind[Any], gateway_id: str, definitions: Mapping[str, str], access: Access
) -> None:
    """Add items to a gateway, with its `access`; `definitions` maps each key to the upstream's JSON."""
    if definitions:
        key = kind.key.name
        columns = access_columns(access)
        rows = [
            {
                "id": str(uuid.uuid4()),
                "gateway_id": gateway_id,
                key: k,
                "definition_json": definition,
                **columns,
            }
            for k, definition in definitions.items()
        ]
        await s.execute(insert(kind.table), rows)


async def replace_items(
    s: AsyncSession, kind: Kind[Any], gateway_id: str, definitions: Mapping[str, str], access: Access
) -> bool:
    """Make a gateway's items of this kind exactly `definitions`; False when they already were.

    An item still listed keeps its id (so virtual servers that chose it keep it) and its
    access; new ones get `access`, the gateway's.
    """
    t = kind.table
    query = select(kind.key.label("key"), t.c.id, t.c.definition_json).where(t.c.gateway_id == gateway_id)
    existing = {row.key: row for row in await s.execute(query)}
    gone = [row.id for k, row in existing.items() if k not in definitions]
    if gone:
        await s.execute(delete(t).where(t.c.id.in_(gone)))
    changed = [
        {"item_id": existing[k].id, "definition": definition}
        for k, definition in definitions.items()
        if k in existing and existing[k].definition_json != definition
    ]
    if changed:
        await s.execute(
            update(t).where(t.c.id == bindparam("item_id")).values(definition_json=bindparam("definition")),
            changed,
        )
    new = {k: definition for k, definition in definitions.items() if k not in existing}
    await insert_items(s, kind, gateway_id, new, access)
    return bool(gone or changed or new)


async def of_gateway(s: AsyncSession, kind: Kind[T], gateway_id: str) -> list[T]:
    rows = await s.execute(kind.select.where(kind.table.c.gateway_id == gateway_id).order_by(kind.key))
    return [kind.build(row) for row in rows]


async def of_gateways(s: AsyncSession, kind: Kind[T], gateway_ids: Sequence[str]) -> list[T]:
    """Items of these gateways, gateway by gateway in the order given, each by key."""
    if not gateway_ids:
        return []
    position = {gateway_id: i for i, gateway_id in enumerate(gateway_ids)}
    rows = await s.execute(
        kind.select.where(kind.table.c.gateway_id.in_(list(gateway_ids))).order_by(kind.key)
    )
    return [kind.build(row) for row in sorted(rows, key=lambda row: position[row.gateway_id])]


async def page_items(
    s: AsyncSession, kind: Kind[T], viewer: Viewer, *, gateway_id: str | None, limit: int, offset: int
) -> Page[T]:
    seen = visible_to(kind.table, viewer)
    query, count = kind.select.where(seen), select(func.count()).select_from(kind.table).where(seen)
    if gateway_id is not None:
        where = kind.table.c.gateway_id == gateway_id
        query, count = query.where(where), count.where(where)
    rows = await s.execute(query.order_by(*kind.ordered).limit(limit).offset(offset))
    return Page([kind.build(row) for row in rows], int(await s.scalar(count) or 0))


async def every_item(s: AsyncSession, kind: Kind[T]) -> list[T]:
    return [kind.build(row) for row in await s.execute(kind.select.order_by(*kind.ordered))]


async def items_by_id(s: AsyncSession, kind: Kind[T], ids: Collection[str], viewer: Viewer) -> list[T]:
    """Items the viewer sees, by id."""
    if not ids:
        return []
    query = kind.select.where(kind.table.c.id.in_(list(ids)), visible_to(kind.table, viewer))
    return [kind.build(row) for row in await s.execute(query)]


async def items_by_qualified_key(
    s: AsyncSession, kind: Kind[T], pairs: Collection[tuple[str, str]], viewer: Viewer
) -> list[T]:
    """Items the viewer sees, by (gateway name, key)."""
    if not pairs:
        return []
    match = or_(*(and_(gateways.c.name == gateway, kind.key == key) for gateway, key in pairs))
    return [
        kind.build(row) for row in await s.execute(kind.select.where(match, visible_to(kind.table, viewer)))
    ]


async def items_by_key(s: AsyncSession, kind: Kind[T], keys: Collection[str], viewer: Viewer) -> list[T]:
    """Items the viewer sees of any gateway by key, ordered by gateway name."""
    if not keys:
        return []
    query = kind.select.where(kind.key.in_(list(keys)), visible_to(kind.table, viewer)).order_by(
        *kind.ordered
    )
    return [kind.build(row) for row in await s.execute(query)]


async def item(s: AsyncSession, kind: Kind[T], item_id: str) -> T | None:
    row = (await s.execute(kind.select.where(kind.table.c.id == item_id))).one_or_none()
    return None if row is None else kind.build(row)


async def set_item_access(s: AsyncSession, kind: Kind[Any], item_id: str, access: Access) -> None:
    await s.execute(update(kind.table).where(kind.table.c.id == item_id).values(**access_columns(access)))


async def chosen_by(s: AsyncSession, kind: Kind[T], server_id: str) -> list[T]:
    """The items a server chose one by one, in the order given."""
    query = (
        kind.select.join(kind.link, kind.link_item == kind.table.c.id)
        .where(kind.link.c.server_id == server_id)
        .order_by(kind.link.c.position)
    )
    return [kind.build(row) for row in await s.execute(query)]


async def set_chosen(s: AsyncSession, kind: Kind[Any], server_id: str, ids: Sequence[str]) -> None:
    await s.execute(delete(kind.link).where(kind.link.c.server_id == server_id))
    if ids:
        item = kind.link_item.name
        rows = [{"server_id": server_id, item: item_id, "position": i} for i, item_id in enumerate(ids)]
        await s.execute(insert(kind.link), rows)


def count_per_gateway(kind: Kind[Any], viewer: Viewer) -> Any:
    """How many items of this kind the enclosing query's gateway lists that `viewer` sees."""
    t = kind.table
    return (
        select(func.count())
        .select_from(t)
        .where(t.c.gateway_id == gateways.c.id, visible_to(t, viewer))
        .scalar_subquery()
    )


def count_per_server(kind: Kind[Any], server_id: Column[Any], viewer: Viewer) -> Any:
    """How many distinct items of this kind the enclosing query's server exposes that `viewer` sees."""
    t, server = kind.table, server_id.table
    # Correlated two levels down: explicit, or SQLAlchemy would add `servers` to the inner FROMs.
    chosen = select(kind.link_item).where(kind.link.c.server_id == server_id).correlate(server)
    included = (
        select(server_gateways.c.gateway_id).where(server_gateways.c.server_id == server_id).correlate(server)
    )
    return (
        select(func.count(t.c.id))
        .where(or_(t.c.id.in_(chosen), t.c.gateway_id.in_(included)), visible_to(t, viewer))
        .scalar_subquery()
    )
