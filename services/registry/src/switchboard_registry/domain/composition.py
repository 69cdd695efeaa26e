"""What a virtual server exposes, read back from what it chose and the gateways it includes.

Items chosen one by one come first, in the order given; then everything the
included gateways list now, gateway by gateway. Each item appears once. The same
reading serves the admin API, the catalog and the checks made before any change
commits, so what is checked is what is served.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.errors import InvalidInput

from switchboard_registry.domain.models import Contents, Selection, Server
from switchboard_registry.domain.naming import compose, doubly_renamed, problems, unmatched_renames
from switchboard_registry.store.listings import PROMPTS, RESOURCES, TEMPLATES, TOOLS, chosen_by, of_gateways
from switchboard_registry.store.servers import included_gateways


async def read(s: AsyncSession, server: Server) -> tuple[Selection, Contents]:
    gateways = await included_gateways(s, server.id)
    gateway_ids = [g.id for g in gateways]
    tools = await chosen_by(s, TOOLS, server.id)
    resources = await chosen_by(s, RESOURCES, server.id)
    templates = await chosen_by(s, TEMPLATES, server.id)
    prompts = await chosen_by(s, PROMPTS, server.id)
    selection = Selection(
        tools=[t.id for t in tools],
        resources=[r.id for r in resources],
        resource_templates=[r.id for r in templates],
        prompts=[p.id for p in prompts],
        gateways=gateways,
    )
    contents = compose(
        server.naming,
        tools=tools + await of_gateways(s, TOOLS, gateway_ids),
        resources=resources + await of_gateways(s, RESOURCES, gateway_ids),
        resource_templates=templates + await of_gateways(s, TEMPLATES, gateway_ids),
        prompts=prompts + await of_gateways(s, PROMPTS, gateway_ids),
    )
    return selection, contents


def check(server: Server, contents: Contents, *, where: str, renames_given: bool) -> None:
    """Refuse a server that would expose bad or clashing names.

    Renames just given must each name something the server exposes; renames stored
    earlier may outlive their item (it may come back on a later refresh).
    """
    if renames_given:
        if unmatched := unmatched_renames(server.naming, contents):
            raise InvalidInput(
                f"{where}: renames name nothing this server exposes: {', '.join(map(repr, unmatched))}",
                data={"unmatched_renames": unmatched},
            )
        if doubled := doubly_renamed(server.naming, contents):
            raise InvalidInput(
                f"{where}: renamed both by id and by qualified name: {', '.join(doubled)}",
                data={"renamed_twice": doubled},
            )
    problems(contents).raise_for(where)
