"""JSON shapes of the registry's HTTP API, and how domain values become them.

Fields the MCP specification names (`inputSchema`, `mimeType`, `uriTemplate`) keep
its spelling; the rest is snake_case. Request bodies are `Body`: read strictly (`0` is no
boolean).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_serializer,
)
from switchboard_core.http.contract import Body
from switchboard_mcp.upstream.credentials import Basic, Bearer, Credentials, HeaderSet, OAuth2, check_header
from switchboard_mcp.upstream.urls import MAX_URL_LENGTH, check_url

from switchboard_registry.domain.models import (
    Access,
    Gateway,
    GatewayDetail,
    GatewayRef,
    Naming,
    Prompt,
    PromptBinding,
    Resource,
    Server,
    ServerDetail,
    Tool,
    ToolBinding,
)
from switchboard_registry.domain.names import MAX_EXPOSED_NAME, MAX_SERVER_NAME
from switchboard_registry.domain.naming import NamingChange

# Size bounds of what a request may carry (docs/limits.md); the domain's own rules (name
# patterns, the 64 characters of an exposed name) are checked once these hold.
MAX_GATEWAY_NAME = 32
MAX_DESCRIPTION = 8192
# Items one request may name in a list (a server's tools, resources, prompts, gateways).
MAX_REFS = 1000
# A URL an upstream is reached at, or a token endpoint: absolute http(s), read one way only.
HttpUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH), AfterValidator(check_url)]
# An id, a qualified name, or a resource's URI (template).
Ref = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, page, convert: Callable[[Any], T], *, limit: int, offset: int) -> PageOut[T]:
        """A domain `Page` as the API shows it, each item through `convert`."""
        return cls(items=[convert(item) for item in page.items], total=page.total, limit=limit, offset=offset)


VisibilityIn = Literal["private", "team", "public"]
_TEAM = "The owning team's id; default: the caller's personal team."
_VISIBILITY = "`private` (its owner), `team` (default: its team's members) or `public` (anyone signed in)."


class Owned(BaseModel):
    """Who owns an entity and who may see it."""

    owner_id: str
    team_id: str = Field(description="Empty for entities made before teams existed (then public).")
    visibility: VisibilityIn


def owned(access: Access) -> dict[str, Any]:
    return {"owner_id": access.owner_id, "team_id": access.team_id, "visibility": access.visibility}


class AccessIn(Body):
    team_id: str | None = Field(default=None, min_length=1, max_length=36, description=_TEAM)
    visibility: VisibilityIn | None = Field(default=None, description=_VISIBILITY)


class AccessPatch(Body):
    """A new team and/or visibility; what is left out stays. Everything a gateway lists follows it."""

    team_id: str | None = Field(default=None, min_length=1, max_length=36)
    visibility: VisibilityIn | None = None


class ItemAccessPatch(Body):
    """Who sees one tool, resource or prompt: never more than see its gateway."""

    visibility: VisibilityIn


_SECRET = {"max_length": 8192, "min_length": 1}


class BearerIn(Body):
    """Sent as `Authorization: Bearer <token>`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["bearer"]
    token: SecretStr = Field(json_schema_extra={"writeOnly": True}, **_SECRET)

    def credentials(self) -> Credentials:
        return Bearer(self.token.get_secret_value())


class BasicIn(Body):
    """Sent as `Authorization: Basic base64(username:password)`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["basic"]
    username: str = Field(min_length=1, max_length=255, pattern=r"^[^:\x00-\x1f\x7f]+$")
    password: SecretStr = Field(json_schema_extra={"writeOnly": True}, **_SECRET)

    def credentials(self) -> Credentials:
        return Basic(self.username, self.password.get_secret_value())


class HeadersIn(Body):
    """Headers of your choosing (an API key header, say); not hop-by-hop ones, `Host`,
    `Content-Length`, `Content-Type`, `Accept`, `Cookie` or the MCP headers."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["headers"]
    headers: dict[Annotated[str, Field(max_length=256)], Annotated[SecretStr, Field(**_SECRET)]] = Field(
        min_length=1, max_length=16, json_schema_extra={"writeOnly": True}
    )

    @field_validator("headers")
    @classmethod
    def _sendable(cls, headers: dict[str, SecretStr]) -> dict[str, SecretStr]:
        lowered = [name.lower() for name in headers]
        if len(set(lowered)) != len(lowered):
            raise ValueError("a header is named twice (names are case-insensitive)")
        for name, value in headers.items():
            try:
                check_header(name, value.get_secret_value())
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        return headers

    def credentials(self) -> Credentials:
        return HeaderSet(tuple((name, value.get_secret_value()) for name, value in self.headers.items()))


class OAuth2In(Body):
    """An access token from `token_url` by the client credentials grant (the client
    authenticates with HTTP Basic), sent as a bearer token and renewed before it expires."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["oauth2"]
    token_url: HttpUrl = Field(description="http(s); passes the outbound guard.")
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: SecretStr = Field(json_schema_extra={"writeOnly": True}, **_SECRET)
    scope: str | None = Field(default=None, max_length=1024)
    audience: str | None = Field(default=None, max_length=1024)

    def credentials(self) -> Credentials:
        return OAuth2(
            self.token_url, self.client_id, self.client_secret.get_secret_value(), self.scope, self.audience
        )


AuthIn = Annotated[BearerIn | BasicIn | HeadersIn | OAuth2In, Field(discriminator="type")]
_AUTH = "Credentials the upstream requires; stored sealed, never shown again (docs/upstream-credentials.md)."


class GatewayIn(AccessIn):
    name: str = Field(
        max_length=MAX_GATEWAY_NAME,
        description="1 to 32 letters, digits, '_' or '-'; prefixes the names of its tools.",
    )
    url: HttpUrl = Field(description="The upstream's Streamable HTTP endpoint (http or https).")
    auth: AuthIn | None = Field(default=None, description=_AUTH)


class GatewayPatch(AccessPatch):
    """A new team, visibility and/or credentials; what is left out stays. `"auth": null`
    removes the credentials."""

    auth: AuthIn | None = Field(default=None, description=_AUTH)


class AuthOut(BaseModel):
    """What of an upstream's credentials is shown: their type and non-secret fields, never a secret."""

    type: Literal["bearer", "basic", "headers", "oauth2"]
    configured: Literal[True] = True
    username: str | None = None
    header_names: list[str] | None = None
    token_url: str | None = None
    client_id: str | None = None
    scope: str | None = None
    audience: str | None = None

    @model_serializer(mode="wrap")
    def _only_set(self, serialize: Any) -> dict[str, Any]:
        # Each type has its own fields: the others are left out, not shown as null.
        return {key: value for key, value in serialize(self).items() if value is not None}


class ToolOut(Owned):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    name: str = Field(description="Qualified name: `<gateway>__<tool>`.")
    upstream_name: str
    gateway_id: str
    gateway_name: str
    description: str | None = None
    input_schema: dict[str, Any] = Field(alias="inputSchema")

    @classmethod
    def of(cls, tool: Tool) -> ToolOut:
        definition = tool.definition()
        return cls(
            id=tool.id,
            name=tool.qualified_name,
            upstream_name=tool.name,
            gateway_id=tool.gateway_id,
            gateway_name=tool.gateway_name,
            description=definition.get("description"),
            input_schema=definition.get("inputSchema") or {},
            **owned(tool.access),
        )


class PromptOut(Owned):
    id: str
    name: str = Field(description="Qualified name: `<gateway>__<prompt>`.")
    upstream_name: str
    gateway_id: str
    gateway_name: str
    title: str | None = None
    description: str | None = None
    arguments: list[dict[str, Any]] = Field(default_factory=list, description="The prompt's arguments.")

    @classmethod
    def of(cls, prompt: Prompt, *, name: str | None = None) -> PromptOut:
        definition = prompt.definition()
        return cls(
            id=prompt.id,
            name=name or prompt.qualified_name,
            upstream_name=prompt.name,
            gateway_id=prompt.gateway_id,
            gateway_name=prompt.gateway_name,
            title=definition.get("title"),
            description=definition.get("description"),
            arguments=definition.get("arguments") or [],
            **owned(prompt.access),
        )


class ResourceOut(Owned):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    uri: str = Field(description="What clients read it by; never renamed.")
    name: str | None = None
    title: str | None = None
    description: str | None = None
    mime_type: str | None = Field(default=None, alias="mimeType")
    gateway_id: str
    gateway_name: str

    @classmethod
    def of(cls, resource: Resource) -> ResourceOut:
        definition = resource.definition()
        return cls(
            id=resource.id,
            uri=resource.uri,
            name=definition.get("name"),
            title=definition.get("title"),
            description=definition.get("description"),
            mime_type=definition.get("mimeType"),
            gateway_id=resource.gateway_id,
            gateway_name=resource.gateway_name,
            **owned(resource.access),
        )


class ResourceTemplateOut(Owned):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    uri_template: str = Field(alias="uriTemplate", description="An RFC 6570 URI template; never renamed.")
    name: str | None = None
    title: str | None = None
    description: str | None = None
    mime_type: str | None = Field(default=None, alias="mimeType")
    gateway_id: str
    gateway_name: str

    @classmethod
    def of(cls, template: Resource) -> ResourceTemplateOut:
        definition = template.definition()
        return cls(
            id=template.id,
            uri_template=template.uri,
            name=definition.get("name"),
            title=definition.get("title"),
            description=definition.get("description"),
            mime_type=definition.get("mimeType"),
            gateway_id=template.gateway_id,
            gateway_name=template.gateway_name,
            **owned(template.access),
        )


class GatewayOut(Owned):
    id: str
    name: str
    url: str
    created_at: datetime
    created_by: str
    last_refreshed_at: datetime
    server_info: dict[str, Any]
    capabilities: dict[str, Any] = Field(
        description="The upstream's capabilities from its initialize result."
    )
    tool_count: int
    resource_count: int
    resource_template_count: int
    prompt_count: int
    status: Literal["available", "unavailable"] = Field(
        description="Unavailable after failed health checks: its items are left out of every catalog."
    )
    last_seen_ok_at: datetime | None = Field(
        description="When the upstream last answered, as of its last registration, refresh or status change."
    )
    last_error: str | None = Field(description="Why the upstream was last found unavailable.")
    auth: AuthOut | None = Field(
        default=None, description="The credentials the upstream is reached with, if any."
    )

    @classmethod
    def of(cls, gateway: Gateway) -> GatewayOut:
        return cls(
            id=gateway.id,
            name=gateway.name,
            url=gateway.url,
            created_at=gateway.created_at,
            created_by=gateway.created_by,
            last_refreshed_at=gateway.last_refreshed_at,
            server_info=gateway.server_info,
            capabilities=gateway.capabilities,
            tool_count=gateway.tool_count,
            resource_count=gateway.resource_count,
            resource_template_count=gateway.resource_template_count,
            prompt_count=gateway.prompt_count,
            status=gateway.status,
            last_seen_ok_at=gateway.last_seen_ok_at,
            last_error=gateway.last_error,
            auth=AuthOut.model_validate(gateway.auth) if gateway.auth else None,
            **owned(gateway.access),
        )


class GatewayDetailOut(GatewayOut):
    tools: list[ToolOut]
    resources: list[ResourceOut]
    resource_templates: list[ResourceTemplateOut]
    prompts: list[PromptOut]

    @classmethod
    def of_detail(cls, detail: GatewayDetail) -> GatewayDetailOut:
        base = GatewayOut.of(detail.gateway).model_dump()
        return cls(
            **base,
            tools=[ToolOut.of(tool) for tool in detail.tools],
            resources=[ResourceOut.of(resource) for resource in detail.resources],
            resource_templates=[ResourceTemplateOut.of(t) for t in detail.resource_templates],
            prompts=[PromptOut.of(prompt) for prompt in detail.prompts],
        )


class NamingIn(Body):
    mode: Literal["prefix", "bare"] | None = Field(
        default=None,
        description=(
            "`prefix` (default): `<gateway><separator><name>`; `bare`: the upstream's name. "
            "Clashing names are refused."
        ),
    )
    separator: str | None = Field(
        default=None, max_length=16, description="1 to 5 letters, digits, '_', '.' or '-'; default `__`."
    )
    renames: dict[Ref, Annotated[str, Field(max_length=4 * MAX_EXPOSED_NAME)]] | None = Field(
        default=None,
        max_length=MAX_REFS,
        description=(
            "Tool or prompt (by id or qualified name `<gateway>__<name>`) → the name to expose: "
            "1 to 64 letters, digits, '_', '.' or '-'. Given on an update, replaces every rename."
        ),
    )

    def change(self) -> NamingChange:
        return NamingChange(self.mode, self.separator, self.renames)


class NamingOut(BaseModel):
    mode: Literal["prefix", "bare"]
    separator: str
    renames: dict[str, str]

    @classmethod
    def of(cls, naming: Naming) -> NamingOut:
        return cls(mode=naming.mode, separator=naming.separator, renames=dict(naming.renames))


_TOOLS = "Tool ids or qualified names (`<gateway>__<tool>`), in exposed order."
_RESOURCES = "Resource or resource template ids, or their URIs (URI templates), in exposed order."
_PROMPTS = "Prompt ids or qualified names (`<gateway>__<prompt>`), in exposed order."
_GATEWAYS = "Gateway ids or names: everything they offer, now and after each refresh."
_BARE = "Shorthand for naming mode `bare` (true) or `prefix` (false)."


class ServerIn(AccessIn):
    name: str = Field(max_length=MAX_SERVER_NAME)
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    tools: list[Ref] = Field(default_factory=list, max_length=MAX_REFS, description=_TOOLS)
    resources: list[Ref] = Field(default_factory=list, max_length=MAX_REFS, description=_RESOURCES)
    prompts: list[Ref] = Field(default_factory=list, max_length=MAX_REFS, description=_PROMPTS)
    gateways: list[Ref] = Field(default_factory=list, max_length=MAX_REFS, description=_GATEWAYS)
    naming: NamingIn | None = None
    bare_names: bool | None = Field(default=None, description=_BARE)


class ServerPatch(Body):
    """What to change; a field left out stays as it is, a list given replaces the whole list."""

    name: str | None = Field(default=None, max_length=MAX_SERVER_NAME)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    tools: list[Ref] | None = Field(default=None, max_length=MAX_REFS, description=_TOOLS)
    resources: list[Ref] | None = Field(default=None, max_length=MAX_REFS, description=_RESOURCES)
    prompts: list[Ref] | None = Field(default=None, max_length=MAX_REFS, description=_PROMPTS)
    gateways: list[Ref] | None = Field(default=None, max_length=MAX_REFS, description=_GATEWAYS)
    naming: NamingIn | None = Field(default=None, description="The naming parts given replace those parts.")
    bare_names: bool | None = Field(default=None, description=_BARE)
    team_id: str | None = Field(
        default=None, min_length=1, max_length=36, description="Move it to this team."
    )
    visibility: VisibilityIn | None = None


class ServerToolOut(BaseModel):
    id: str
    name: str = Field(description="The name clients of this server see.")
    qualified_name: str
    upstream_name: str
    gateway_id: str
    gateway_name: str
    description: str | None = None

    @classmethod
    def of(cls, binding: ToolBinding) -> ServerToolOut:
        tool = binding.tool
        return cls(
            id=tool.id,
            name=binding.name,
            qualified_name=tool.qualified_name,
            upstream_name=tool.name,
            gateway_id=tool.gateway_id,
            gateway_name=tool.gateway_name,
            description=tool.definition().get("description"),
        )


class ServerPromptOut(PromptOut):
    name: str = Field(description="The name clients of this server see.")
    qualified_name: str

    @classmethod
    def of_binding(cls, binding: PromptBinding) -> ServerPromptOut:
        base = PromptOut.of(binding.prompt, name=binding.name).model_dump()
        return cls(**base, qualified_name=binding.prompt.qualified_name)


class GatewayRefOut(BaseModel):
    id: str
    name: str

    @classmethod
    def of(cls, ref: GatewayRef) -> GatewayRefOut:
        return cls(id=ref.id, name=ref.name)


class ChosenOut(BaseModel):
    """Items chosen one by one, by id, in order (gateways included whole are listed apart)."""

    tools: list[str]
    resources: list[str]
    resource_templates: list[str]
    prompts: list[str]


class ServerOut(Owned):
    id: str
    name: str
    description: str
    bare_names: bool = Field(description="Whether the naming mode is `bare`.")
    naming: NamingOut
    created_at: datetime
    created_by: str
    tool_count: int
    resource_count: int
    resource_template_count: int
    prompt_count: int

    @classmethod
    def of(cls, server: Server) -> ServerOut:
        return cls(
            id=server.id,
            name=server.name,
            description=server.description,
            bare_names=server.bare_names,
            naming=NamingOut.of(server.naming),
            created_at=server.created_at,
            created_by=server.created_by,
            tool_count=server.tool_count,
            resource_count=server.resource_count,
            resource_template_count=server.resource_template_count,
            prompt_count=server.prompt_count,
            **owned(server.access),
        )


class ServerDetailOut(ServerOut):
    gateways: list[GatewayRefOut] = Field(description="Gateways included whole.")
    chosen: ChosenOut
    tools: list[ServerToolOut] = Field(description="Every tool exposed, under its exposed name.")
    resources: list[ResourceOut]
    resource_templates: list[ResourceTemplateOut]
    prompts: list[ServerPromptOut] = Field(description="Every prompt exposed, under its exposed name.")

    @classmethod
    def of_detail(cls, detail: ServerDetail) -> ServerDetailOut:
        base = ServerOut.of(detail.server).model_dump()
        selection, contents = detail.selection, detail.contents
        return cls(
            **base,
            gateways=[GatewayRefOut.of(ref) for ref in selection.gateways],
            chosen=ChosenOut(
                tools=selection.tools,
                resources=selection.resources,
                resource_templates=selection.resource_templates,
                prompts=selection.prompts,
            ),
            tools=[ServerToolOut.of(binding) for binding in contents.tools],
            resources=[ResourceOut.of(resource) for resource in contents.resources],
            resource_templates=[ResourceTemplateOut.of(t) for t in contents.resource_templates],
            prompts=[ServerPromptOut.of_binding(binding) for binding in contents.prompts],
        )
