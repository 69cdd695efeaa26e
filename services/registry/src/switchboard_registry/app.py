"""The registry's HTTP API: admin CRUD of gateways and virtual servers, what gateways offer.

Translation only: each route turns JSON into a call on the `Registry` and its answer
back into JSON. Every route needs a signed-in caller; what they may see and do is
decided per entity by the domain (see `domain/access.py`): lists show only what they
see, an entity they cannot see is 404, one they see but may not change is 403. Every
route that changes something names its audit action (`audits`); the changes are
recorded by the domain, the refusals by the route class (`switchboard_core.http.refusals`).
`/servers/{id}/mcp` belongs to the MCP proxy, so nothing here lives under a server's
path.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from switchboard_core.http.deps import CurrentPrincipal
from switchboard_core.http.params import Filter, Limit, Offset
from switchboard_core.http.refusals import audits

from switchboard_registry.domain.registry import Registry
from switchboard_registry.schemas import (
    GatewayDetailOut,
    GatewayIn,
    GatewayOut,
    GatewayPatch,
    ItemAccessPatch,
    PageOut,
    PromptOut,
    ResourceOut,
    ResourceTemplateOut,
    ServerDetailOut,
    ServerIn,
    ServerOut,
    ServerPatch,
    ToolOut,
)
from switchboard_registry.store.listings import PROMPTS, RESOURCES, TEMPLATES, TOOLS

# JSONResponse: FastAPI serializes the pydantic return types itself (ORJSONResponse is deprecated).


def build_routers(registry: Callable[[], Registry], route_class: type[APIRoute]) -> list[APIRouter]:
    """Routers bound to the registry `registry()` returns when a request arrives, whose
    routes are of `route_class` (recording refused attempts).

    Route signatures name the dependency through a local alias, so this module must
    not use `from __future__ import annotations` (FastAPI would not resolve it).
    """
    Reg = Annotated[Registry, Depends(registry)]
    return [build(Reg, route_class) for build in (_gateways, _tools, _resources, _prompts, _servers)]


def _gateways(Reg: Any, route_class: type[APIRoute]) -> APIRouter:
    router = APIRouter(
        prefix="/gateways", tags=["gateways"], default_response_class=JSONResponse, route_class=route_class
    )

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        summary="Register an upstream MCP server",
        openapi_extra=audits("gateway.create"),
    )
    async def register_gateway(body: GatewayIn, reg: Reg, who: CurrentPrincipal) -> GatewayDetailOut:
        detail = await reg.gateways.register(
            body.name,
            body.url,
            by=who,
            team_id=body.team_id,
            visibility=body.visibility,
            auth=body.auth.credentials() if body.auth else None,
        )
        return GatewayDetailOut.of_detail(detail)

    @router.get("", summary="List the gateways the caller may see")
    async def list_gateways(
        reg: Reg, who: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
    ) -> PageOut[GatewayOut]:
        page = await reg.gateways.page(by=who, limit=limit, offset=offset)
        return PageOut.of(page, GatewayOut.of, limit=limit, offset=offset)

    @router.get("/{gateway_id}", summary="A gateway and its tools, resources, resource templates and prompts")
    async def get_gateway(gateway_id: str, reg: Reg, who: CurrentPrincipal) -> GatewayDetailOut:
        return GatewayDetailOut.of_detail(await reg.gateways.get(gateway_id, by=who))

    @router.patch(
        "/{gateway_id}",
        summary="Move a gateway to another team or visibility, or change its upstream credentials",
        description=(
            "Everything the gateway lists takes its new team and visibility. `auth` replaces the "
            "credentials the upstream is reached with (`null` removes them); the next call uses them. "
            "A change of credentials is recorded as `gateway.auth` (naming the type only); refusals "
            "as `gateway.access`."
        ),
        openapi_extra=audits("gateway.access"),
    )
    async def update_gateway(
        gateway_id: str, body: GatewayPatch, reg: Reg, who: CurrentPrincipal
    ) -> GatewayDetailOut:
        detail = None
        if "auth" in body.model_fields_set:
            auth = body.auth.credentials() if body.auth else None
            detail = await reg.gateways.set_auth(gateway_id, by=who, auth=auth)
        if body.team_id is not None or body.visibility is not None or detail is None:
            detail = await reg.gateways.set_access(
                gateway_id, by=who, team_id=body.team_id, visibility=body.visibility
            )
        return GatewayDetailOut.of_detail(detail)

    @router.post(
        "/{gateway_id}/refresh",
        summary="List what the upstream offers again",
        description=(
            "Items still listed keep their ids. Refused (409) when a virtual server including "
            "this gateway would then expose clashing or bad names; the previous listing stays."
        ),
        responses={502: {"description": "The upstream answered, but not as an MCP server should"}},
        openapi_extra=audits("gateway.refresh"),
    )
    async def refresh_gateway(gateway_id: str, reg: Reg, who: CurrentPrincipal) -> GatewayDetailOut:
        return GatewayDetailOut.of_detail(await reg.gateways.refresh(gateway_id, by=who))

    @router.post(
        "/{gateway_id}/check",
        summary="Check the upstream's health now",
        description=(
            "Pings the upstream once; the result decides the gateway's status at once. An "
            "unavailable gateway that answers is listed again and its items return to the catalog."
        ),
        openapi_extra=audits("gateway.check"),
    )
    async def check_gateway(gateway_id: str, reg: Reg, who: CurrentPrincipal) -> GatewayDetailOut:
        await reg.health.check_now(gateway_id, by=who)
        return GatewayDetailOut.of_detail(await reg.gateways.get(gateway_id, by=who))

    @router.delete(
        "/{gateway_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Remove a gateway and everything it offers",
        openapi_extra=audits("gateway.delete"),
    )
    async def delete_gateway(gateway_id: str, reg: Reg, who: CurrentPrincipal) -> Response:
        await reg.gateways.delete(gateway_id, by=who)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def _tools(Reg: Any, route_class: type[APIRoute]) -> APIRouter:
    router = APIRouter(
        prefix="/tools", tags=["tools"], default_response_class=JSONResponse, route_class=route_class
    )

    @router.get("", summary="List tools of every gateway, or of one")
    async def list_tools(
        reg: Reg, who: CurrentPrincipal, gateway_id: Filter = None, limit: Limit = 50, offset: Offset = 0
    ) -> PageOut[ToolOut]:
        page = await reg.catalog.tools(by=who, gateway_id=gateway_id, limit=limit, offset=offset)
        return PageOut.of(page, ToolOut.of, limit=limit, offset=offset)

    @router.patch(
        "/{tool_id}",
        summary="Change who sees one tool (never more than see its gateway)",
        openapi_extra=audits("tool.access"),
    )
    async def update_tool(tool_id: str, body: ItemAccessPatch, reg: Reg, who: CurrentPrincipal) -> ToolOut:
        return ToolOut.of(
            await reg.gateways.set_item_access(TOOLS, tool_id, by=who, visibility=body.visibility)
        )

    return router


def _resources(Reg: Any, route_class: type[APIRoute]) -> APIRouter:
    router = APIRouter(tags=["resources"], default_response_class=JSONResponse, route_class=route_class)

    @router.get("/resources", summary="List resources of every gateway, or of one")
    async def list_resources(
        reg: Reg, who: CurrentPrincipal, gateway_id: Filter = None, limit: Limit = 50, offset: Offset = 0
    ) -> PageOut[ResourceOut]:
        page = await reg.catalog.resources(by=who, gateway_id=gateway_id, limit=limit, offset=offset)
        return PageOut.of(page, ResourceOut.of, limit=limit, offset=offset)

    @router.patch(
        "/resources/{resource_id}",
        summary="Change who sees one resource",
        openapi_extra=audits("resource.access"),
    )
    async def update_resource(
        resource_id: str, body: ItemAccessPatch, reg: Reg, who: CurrentPrincipal
    ) -> ResourceOut:
        changed = await reg.gateways.set_item_access(
            RESOURCES, resource_id, by=who, visibility=body.visibility
        )
        return ResourceOut.of(changed)

    @router.get("/resource-templates", summary="List resource templates of every gateway, or of one")
    async def list_resource_templates(
        reg: Reg, who: CurrentPrincipal, gateway_id: Filter = None, limit: Limit = 50, offset: Offset = 0
    ) -> PageOut[ResourceTemplateOut]:
        page = await reg.catalog.resource_templates(by=who, gateway_id=gateway_id, limit=limit, offset=offset)
        return PageOut.of(page, ResourceTemplateOut.of, limit=limit, offset=offset)

    @router.patch(
        "/resource-templates/{template_id}",
        summary="Change who sees one resource template",
        openapi_extra=audits("resource_template.access"),
    )
    async def update_resource_template(
        template_id: str, body: ItemAccessPatch, reg: Reg, who: CurrentPrincipal
    ) -> ResourceTemplateOut:
        changed = await reg.gateways.set_item_access(
            TEMPLATES, template_id, by=who, visibility=body.visibility
        )
        return ResourceTemplateOut.of(changed)

    return router


def _prompts(Reg: Any, route_class: type[APIRoute]) -> APIRouter:
    router = APIRouter(
        prefix="/prompts", tags=["prompts"], default_response_class=JSONResponse, route_class=route_class
    )

    @router.get("", summary="List prompts of every gateway, or of one")
    async def list_prompts(
        reg: Reg, who: CurrentPrincipal, gateway_id: Filter = None, limit: Limit = 50, offset: Offset = 0
    ) -> PageOut[PromptOut]:
        page = await reg.catalog.prompts(by=who, gateway_id=gateway_id, limit=limit, offset=offset)
        return PageOut.of(page, PromptOut.of, limit=limit, offset=offset)

    @router.patch("/{prompt_id}", summary="Change who sees one prompt", openapi_extra=audits("prompt.access"))
    async def update_prompt(
        prompt_id: str, body: ItemAccessPatch, reg: Reg, who: CurrentPrincipal
    ) -> PromptOut:
        return PromptOut.of(
            await reg.gateways.set_item_access(PROMPTS, prompt_id, by=who, visibility=body.visibility)
        )

    return router


_CHECKED = (
    "Refused with 400 for unknown references or names no client should see (over 64 "
    "characters, spaces), with 409 when two tools, two prompts, or two gateways' "
    "resources would share a name or URI; the body's `data` names the clashing items."
)


def _servers(Reg: Any, route_class: type[APIRoute]) -> APIRouter:
    router = APIRouter(
        prefix="/servers", tags=["servers"], default_response_class=JSONResponse, route_class=route_class
    )

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        summary="Create a virtual server from chosen tools, resources, prompts and gateways",
        description=_CHECKED,
        openapi_extra=audits("server.create"),
    )
    async def create_server(body: ServerIn, reg: Reg, who: CurrentPrincipal) -> ServerDetailOut:
        detail = await reg.servers.create(
            body.name,
            description=body.description,
            tools=body.tools,
            resources=body.resources,
            prompts=body.prompts,
            gateways=body.gateways,
            naming=body.naming.change() if body.naming else None,
            bare_names=body.bare_names,
            by=who,
            team_id=body.team_id,
            visibility=body.visibility,
        )
        return ServerDetailOut.of_detail(detail)

    @router.get("", summary="List virtual servers")
    async def list_servers(
        reg: Reg, who: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0
    ) -> PageOut[ServerOut]:
        page = await reg.servers.page(by=who, limit=limit, offset=offset)
        return PageOut.of(page, ServerOut.of, limit=limit, offset=offset)

    @router.get("/{server_id}", summary="A virtual server and what it exposes, under which names")
    async def get_server(server_id: str, reg: Reg, who: CurrentPrincipal) -> ServerDetailOut:
        return ServerDetailOut.of_detail(await reg.servers.get(server_id, by=who))

    @router.patch(
        "/{server_id}",
        summary="Change a virtual server",
        description=_CHECKED,
        openapi_extra=audits("server.update"),
    )
    async def update_server(
        server_id: str, body: ServerPatch, reg: Reg, who: CurrentPrincipal
    ) -> ServerDetailOut:
        detail = await reg.servers.update(
            server_id,
            name=body.name,
            description=body.description,
            tools=body.tools,
            resources=body.resources,
            prompts=body.prompts,
            gateways=body.gateways,
            naming=body.naming.change() if body.naming else None,
            bare_names=body.bare_names,
            by=who,
            team_id=body.team_id,
            visibility=body.visibility,
        )
        return ServerDetailOut.of_detail(detail)

    @router.delete(
        "/{server_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Remove a virtual server",
        openapi_extra=audits("server.delete"),
    )
    async def delete_server(server_id: str, reg: Reg, who: CurrentPrincipal) -> Response:
        await reg.servers.delete(server_id, by=who)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
