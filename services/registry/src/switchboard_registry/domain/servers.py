"""Virtual servers: tools chosen from any gateways, exposed under names fixed at creation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from switchboard_core.errors import InvalidInput, NotFound

from switchboard_registry.domain.changes import Changes
from switchboard_registry.domain.models import Page, Server, ServerDetail, Tool, ToolBinding
from switchboard_registry.domain.names import check_lengths, check_server_name, check_unique, split_qualified
from switchboard_registry.store.servers import (
    delete_server,
    get_server,
    insert_server,
    list_servers,
    tools_of_server,
)
from switchboard_registry.store.tools import tools_by_id, tools_by_name


def exposed(tool: Tool, *, bare_names: bool) -> ToolBinding:
    return ToolBinding(tool.name if bare_names else tool.qualified_name, tool)


class Servers:
    def __init__(self, sessions: async_sessionmaker, changes: Changes) -> None:
        self._sessions = sessions
        self._changes = changes

    async def create(
        self, name: str, *, description: str = "", tools: Sequence[str], bare_names: bool = False, by: str
    ) -> ServerDetail:
        """`tools` are tool ids or qualified names (`gateway__tool`), in the order to expose them."""
        name = check_server_name(name)
        where = f"could not create server {name!r}"
        server_id = str(uuid.uuid4())
        async with self._changes.change() as s:
            chosen = await _resolve(s, [ref.strip() for ref in tools])
            bindings = [exposed(tool, bare_names=bare_names) for tool in chosen]
            check_lengths((b.name for b in bindings), where=where)
            check_unique(((b.name, b.tool.qualified_name) for b in bindings), where=where)
            await insert_server(
                s,
                id=server_id,
                name=name,
                description=description.strip(),
                bare_names=bare_names,
                at=datetime.now(UTC),
                created_by=by,
                tool_ids=[tool.id for tool in chosen],
            )
        return await self.get(server_id)

    async def get(self, server_id: str) -> ServerDetail:
        async with self._sessions() as s:
            server = await get_server(s, server_id)
            if server is None:
                raise NotFound(f"no server {server_id!r}")
            tools = await tools_of_server(s, server_id)
        return ServerDetail(server, [exposed(tool, bare_names=server.bare_names) for tool in tools])

    async def page(self, *, limit: int, offset: int) -> Page[Server]:
        async with self._sessions() as s:
            return await list_servers(s, limit=limit, offset=offset)

    async def delete(self, server_id: str) -> None:
        async with self._changes.change() as s:
            if not await delete_server(s, server_id):
                raise NotFound(f"no server {server_id!r}")


async def _resolve(s: AsyncSession, refs: list[str]) -> list[Tool]:
    """The tools `refs` name, in order and without repeats; InvalidInput listing unknown refs."""
    by_id = {tool.id: tool for tool in await tools_by_id(s, refs)}
    wanted = {ref: split_qualified(ref) for ref in refs if ref not in by_id}
    pairs = {pair for pair in wanted.values() if pair is not None}
    by_name = {(tool.gateway_name, tool.name): tool for tool in await tools_by_name(s, pairs)}
    unknown = [ref for ref, pair in wanted.items() if pair not in by_name]
    if unknown:
        raise InvalidInput(f"unknown tools: {', '.join(map(repr, unknown))}", data={"unknown": unknown})
    chosen = [by_id[ref] if ref in by_id else by_name[wanted[ref]] for ref in refs]  # type: ignore[index]
    return list({tool.id: tool for tool in chosen}.values())
