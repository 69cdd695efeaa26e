"""Virtual servers: chosen tools, resources and prompts, and whole gateways, under one naming.

Every change is written and then read back and checked inside one transaction: a
server that would expose a bad or clashing name is rolled back, never stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from switchboard_core.errors import NotFound
from switchboard_core.policy import decide

from switchboard_registry.domain import composition, refs
from switchboard_registry.domain.access import (
    SYSTEM,
    Caller,
    changed,
    chosen,
    item_viewers,
    require,
    seen,
    viewer,
)
from switchboard_registry.domain.audit_outbox import event
from switchboard_registry.domain.changes import Changes
from switchboard_registry.domain.models import Contents, Naming, Page, Selection, Server, ServerDetail
from switchboard_registry.domain.names import check_server_name
from switchboard_registry.domain.naming import NamingChange
from switchboard_registry.store.listings import PROMPTS, RESOURCES, TEMPLATES, TOOLS, set_chosen
from switchboard_registry.store.servers import (
    delete_server,
    get_server,
    insert_server,
    list_servers,
    set_included_gateways,
    set_server_access,
    update_server,
)


@dataclass(frozen=True, slots=True)
class _Choice:
    """References to choose, per kind; None leaves a kind as it is."""

    tools: Sequence[str] | None = None
    resources: Sequence[str] | None = None
    prompts: Sequence[str] | None = None
    gateways: Sequence[str] | None = None


class Servers:
    def __init__(self, sessions: async_sessionmaker, changes: Changes) -> None:
        self._sessions = sessions
        self._changes = changes

    async def create(
        self,
        name: str,
        *,
        description: str = "",
        tools: Sequence[str] = (),
        resources: Sequence[str] = (),
        prompts: Sequence[str] = (),
        gateways: Sequence[str] = (),
        naming: NamingChange | None = None,
        bare_names: bool | None = None,
        by: Caller,
        team_id: str | None = None,
        visibility: str | None = None,
    ) -> ServerDetail:
        """Tools and prompts by id or qualified name (`gateway__name`), resources by id or
        URI, gateways (everything they list, now and after each refresh) by id or name;
        each must be one `by` sees. Owned by `by`, in `team_id` (default: their personal
        team), `visibility` (default "team")."""
        access = chosen(by, "servers.create", team_id=team_id, visibility=visibility)
        name = check_server_name(name)
        chosen_naming = (naming or NamingChange()).applied_to(Naming(), bare_names=bare_names)
        server_id = str(uuid.uuid4())
        summary = _given(
            name=name, description=description, tools=tools, resources=resources, prompts=prompts
        )
        summary |= _given(gateways=gateways, naming=naming, bare_names=bare_names)
        summary |= {"team_id": access.team_id, "visibility": access.visibility}
        async with self._changes.change(event(by, "server.create", "server", server_id, summary)) as s:
            await insert_server(
                s,
                id=server_id,
                name=name,
                description=description.strip(),
                naming=chosen_naming,
                at=datetime.now(UTC),
                created_by=by.user_id,
                access=access,
            )
            await _choose(s, server_id, _Choice(tools, resources, prompts, gateways), by)
            await _check(s, server_id, where=f"could not create server {name!r}", naming=naming)
        return await self.get(server_id, by=by)

    async def update(
        self,
        server_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        tools: Sequence[str] | None = None,
        resources: Sequence[str] | None = None,
        prompts: Sequence[str] | None = None,
        gateways: Sequence[str] | None = None,
        naming: NamingChange | None = None,
        bare_names: bool | None = None,
        by: Caller,
        team_id: str | None = None,
        visibility: str | None = None,
    ) -> ServerDetail:
        """Change what is given; a list given replaces that whole list (of items `by` sees)."""
        summary = _given(
            name=name, description=description, tools=tools, resources=resources, prompts=prompts
        )
        summary |= _given(gateways=gateways, naming=naming, bare_names=bare_names)
        summary |= _given(team_id=team_id, visibility=visibility)
        async with self._changes.change(event(by, "server.update", "server", server_id, summary)) as s:
            server = await _existing(s, server_id, by)
            access = changed(by, "servers.update", server.access, team_id=team_id, visibility=visibility)
            if access != server.access:
                await set_server_access(s, server_id, access)
            name = server.name if name is None else check_server_name(name)
            await update_server(
                s,
                server_id,
                name=name,
                description=server.description if description is None else description.strip(),
                naming=(naming or NamingChange()).applied_to(server.naming, bare_names=bare_names),
            )
            await _choose(s, server_id, _Choice(tools, resources, prompts, gateways), by)
            await _check(s, server_id, where=f"could not update server {name!r}", naming=naming)
        return await self.get(server_id, by=by)

    async def get(self, server_id: str, *, by: Caller) -> ServerDetail:
        """The server and what it exposes that `by` sees (NotFound if they do not see the server)."""
        async with self._sessions() as s:
            server = await _existing(s, server_id, by)
            selection, contents = await composition.read(s, server)
        contents = _as_seen_by(by, contents)
        return ServerDetail(server, _selection_seen(selection, contents), contents)

    async def page(self, *, by: Caller, limit: int, offset: int) -> Page[Server]:
        async with self._sessions() as s:
            return await list_servers(
                s, viewer(by, "servers.read"), item_viewers(by), limit=limit, offset=offset
            )

    async def delete(self, server_id: str, *, by: Caller) -> None:
        async with self._changes.change(event(by, "server.delete", "server", server_id)) as s:
            require(by, "servers.delete", (await _existing(s, server_id, by)).access)
            if not await delete_server(s, server_id):
                raise NotFound(f"no server {server_id!r}")


def _given(**fields) -> dict:
    """The fields a caller set, as the audit log records them."""
    summary: dict = {}
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, NamingChange):
            parts = {"mode": value.mode, "separator": value.separator, "renames": value.renames}
            value = {k: dict(v) if k == "renames" else v for k, v in parts.items() if v is not None}
        elif not isinstance(value, str | bool):
            value = list(value)
        summary[name] = value
    return summary


async def _existing(s: AsyncSession, server_id: str, by: Caller = SYSTEM) -> Server:
    server = await get_server(s, server_id, item_viewers(by))
    if server is None:
        raise NotFound(f"no server {server_id!r}")
    seen(by, "servers.read", server.access, f"server {server_id!r}")
    return server


async def _choose(s: AsyncSession, server_id: str, choice: _Choice, by: Caller) -> None:
    if choice.tools is not None:
        chosen_tools = await refs.named_items(s, TOOLS, choice.tools, viewer(by, "tools.read"))
        await set_chosen(s, TOOLS, server_id, chosen_tools)
    if choice.prompts is not None:
        chosen_prompts = await refs.named_items(s, PROMPTS, choice.prompts, viewer(by, "prompts.read"))
        await set_chosen(s, PROMPTS, server_id, chosen_prompts)
    if choice.resources is not None:
        resource_ids, template_ids = await refs.resource_items(
            s, choice.resources, viewer(by, "resources.read")
        )
        await set_chosen(s, RESOURCES, server_id, resource_ids)
        await set_chosen(s, TEMPLATES, server_id, template_ids)
    if choice.gateways is not None:
        gateway_ids = await refs.gateway_ids(s, choice.gateways, viewer(by, "gateways.read"))
        await set_included_gateways(s, server_id, gateway_ids)


def _as_seen_by(by: Caller, contents: Contents) -> Contents:
    """What a server exposes, less what `by` may not see (the proxy filters its catalog alike)."""
    return Contents(
        tools=[b for b in contents.tools if decide(by, "tools.read", b.tool.access)],
        resources=[r for r in contents.resources if decide(by, "resources.read", r.access)],
        resource_templates=[r for r in contents.resource_templates if decide(by, "resources.read", r.access)],
        prompts=[b for b in contents.prompts if decide(by, "prompts.read", b.prompt.access)],
    )


def _selection_seen(selection: Selection, seen: Contents) -> Selection:
    """The chosen ids among what is seen (gateways included whole stay: the server names them)."""
    tools = {b.tool.id for b in seen.tools}
    prompts = {b.prompt.id for b in seen.prompts}
    resources = {r.id for r in seen.resources} | {r.id for r in seen.resource_templates}
    return replace(
        selection,
        tools=[i for i in selection.tools if i in tools],
        resources=[i for i in selection.resources if i in resources],
        resource_templates=[i for i in selection.resource_templates if i in resources],
        prompts=[i for i in selection.prompts if i in prompts],
    )


async def _check(s: AsyncSession, server_id: str, *, where: str, naming: NamingChange | None) -> None:
    server = await _existing(s, server_id)
    _, contents = await composition.read(s, server)
    renames_given = naming is not None and naming.renames is not None
    composition.check(server, contents, where=where, renames_given=renames_given)
