"""The catalog as the data path reads it, and the admin's paginated views of every item.

A server's catalog is what the server exposes (see `composition`). The catalog of
everything (`server_id=""`, served at `/mcp`) holds every tool and prompt by qualified
name (`gateway__name`, unique by construction) and every resource and resource
template; a URI offered by several gateways is served by the first of them by name,
since nothing configures that catalog and a URI can only be read from one place.

Every item carries its access and a server's catalog its server's: one catalog per
server serves every caller, and the proxy decides per caller what each may see.
The admin views show only what the caller sees.

Items of unavailable gateways (see `health`) are left out of both, under the same
names for the rest, and come back when their gateway does. A server's catalog names its
held-back tools and prompts with their access, so the proxy can tell a caller who may
see one that its upstream is down, and no one else that it exists.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.errors import NotFound

from switchboard_registry.domain import composition
from switchboard_registry.domain.access import Caller, viewer
from switchboard_registry.domain.models import (
    AccessIndex,
    Catalog,
    Contents,
    HeldBack,
    Page,
    Prompt,
    PromptBinding,
    Resource,
    ServerTools,
    Tool,
    ToolBinding,
)
from switchboard_registry.store import revision as revision_store
from switchboard_registry.store.gateways import gateways_by_id, unavailable_ids
from switchboard_registry.store.listings import PROMPTS, RESOURCES, TEMPLATES, TOOLS, every_item, page_items
from switchboard_registry.store.servers import every_server, get_server


class CatalogReader:
    def __init__(self, sessions: async_sessionmaker) -> None:
        self._sessions = sessions

    async def catalog(self, server_id: str = "") -> Catalog:
        """One server's catalog under its exposed names, or everything by qualified name."""
        async with self._sessions() as s:
            # Revision first: what is read after it is at least that new, so a cache
            # keyed on this revision is never fresher than it claims.
            revision = await revision_store.current(s)
            down = await unavailable_ids(s)
            server_access = None
            if not server_id:
                server_name = ""
                contents = Contents(
                    tools=[ToolBinding(t.qualified_name, t) for t in await every_item(s, TOOLS)],
                    resources=_available(await every_item(s, RESOURCES), down),
                    resource_templates=_available(await every_item(s, TEMPLATES), down),
                    prompts=[PromptBinding(p.qualified_name, p) for p in await every_item(s, PROMPTS)],
                )
            else:
                server = await get_server(s, server_id)
                if server is None:
                    raise NotFound(f"no server {server_id!r}")
                server_name, server_access = server.name, server.access
                _, contents = await composition.read(s, server)
            held_tools = {
                b.name: HeldBack(b.tool.gateway_name, b.tool.access)
                for b in contents.tools
                if b.tool.gateway_id in down
            }
            held_prompts = {
                b.name: HeldBack(b.prompt.gateway_name, b.prompt.access)
                for b in contents.prompts
                if b.prompt.gateway_id in down
            }
            contents = contents.without(down)
            upstreams = await gateways_by_id(s, contents.gateway_ids())
        return Catalog(
            server_id=server_id,
            server_name=server_name,
            tools=contents.tools,
            revision=revision,
            resources=contents.resources,
            resource_templates=contents.resource_templates,
            prompts=contents.prompts,
            upstreams=upstreams,
            held_tools=held_tools,
            held_prompts=held_prompts,
            server_access=server_access,
        )

    async def access_index(self) -> AccessIndex:
        """Every server's access and its tools' under the names it exposes them by, and
        every tool's by qualified name, held-back ones included: for services that show
        what was done with them by name (metrics), to show each caller only what it may
        see. One reading per server: asked for once per catalog revision."""
        async with self._sessions() as s:
            revision = await revision_store.current(s)
            every = [(t.qualified_name, t.access) for t in await every_item(s, TOOLS)]
            servers = []
            for server in await every_server(s):
                _, contents = await composition.read(s, server)
                servers.append(
                    ServerTools(server.id, server.access, [(b.name, b.tool.access) for b in contents.tools])
                )
        return AccessIndex(revision=revision, servers=servers, tools=every)

    async def tools(
        self, *, by: Caller, gateway_id: str | None = None, limit: int, offset: int
    ) -> Page[Tool]:
        async with self._sessions() as s:
            return await page_items(
                s, TOOLS, viewer(by, "tools.read"), gateway_id=gateway_id, limit=limit, offset=offset
            )

    async def prompts(
        self, *, by: Caller, gateway_id: str | None = None, limit: int, offset: int
    ) -> Page[Prompt]:
        async with self._sessions() as s:
            return await page_items(
                s, PROMPTS, viewer(by, "prompts.read"), gateway_id=gateway_id, limit=limit, offset=offset
            )

    async def resources(
        self, *, by: Caller, gateway_id: str | None = None, limit: int, offset: int
    ) -> Page[Resource]:
        async with self._sessions() as s:
            return await page_items(
                s, RESOURCES, viewer(by, "resources.read"), gateway_id=gateway_id, limit=limit, offset=offset
            )

    async def resource_templates(
        self, *, by: Caller, gateway_id: str | None = None, limit: int, offset: int
    ) -> Page[Resource]:
        async with self._sessions() as s:
            return await page_items(
                s, TEMPLATES, viewer(by, "resources.read"), gateway_id=gateway_id, limit=limit, offset=offset
            )


def _available(resources: Iterable[Resource], unavailable: set[str]) -> list[Resource]:
    """Every offer of every URI among available gateways, in gateway order: the proxy
    serves a caller the first offer it may read (another gateway's offer of the same URI
    may be one the caller cannot see)."""
    return [resource for resource in resources if resource.gateway_id not in unavailable]
