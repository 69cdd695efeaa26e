"""The catalog as the data path reads it, and the admin's view of every tool."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.errors import NotFound

from switchboard_registry.domain.models import Catalog, Page, Tool, ToolBinding
from switchboard_registry.domain.servers import exposed
from switchboard_registry.store import revision as revision_store
from switchboard_registry.store.servers import get_server, tools_of_server
from switchboard_registry.store.tools import all_tools, list_tools


class CatalogReader:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def catalog(self, server_id: str = "") -> Catalog:
        """One server's tools under their exposed names, or every tool by qualified name."""
        async with self._sessions() as s:
            # Revision first: the tools read after it are at least that new, so a
            # cache keyed on this revision is never fresher than it claims.
            revision = await revision_store.current(s)
            if not server_id:
                tools = await all_tools(s)
                return Catalog("", "", [ToolBinding(t.qualified_name, t) for t in tools], revision)
            server = await get_server(s, server_id)
            if server is None:
                raise NotFound(f"no server {server_id!r}")
            tools = await tools_of_server(s, server_id)
        bindings = [exposed(tool, bare_names=server.bare_names) for tool in tools]
        return Catalog(server.id, server.name, bindings, revision)

    async def tools(self, *, gateway_id: str | None = None, limit: int, offset: int) -> Page[Tool]:
        async with self._sessions() as s:
            return await list_tools(s, gateway_id=gateway_id, limit=limit, offset=offset)
