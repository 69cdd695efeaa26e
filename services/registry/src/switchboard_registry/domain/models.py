"""Values the registry hands out: gateways, what they list, virtual servers, catalogs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

import orjson

from switchboard_registry.domain.names import qualified_name

T = TypeVar("T")
NamingMode = Literal["prefix", "bare"]
GatewayStatus = Literal["available", "unavailable"]
AVAILABLE: GatewayStatus = "available"
UNAVAILABLE: GatewayStatus = "unavailable"


@dataclass(frozen=True, slots=True)
class Access:
    """Who owns an entity and who may see it (a `switchboard_core.policy.Entity`)."""

    owner_id: str
    team_id: str
    # "private" (its owner), "team" (its team's members) or "public" (anyone signed in).
    visibility: str


@dataclass(frozen=True, slots=True)
class Gateway:
    """An upstream MCP server registered under a name."""

    id: str
    name: str
    url: str
    created_at: datetime
    created_by: str
    last_refreshed_at: datetime
    server_info: dict[str, Any]
    # The upstream's capabilities from its initialize result.
    capabilities: dict[str, Any]
    tool_count: int
    resource_count: int
    resource_template_count: int
    prompt_count: int
    # Its items start with it and are never more visible than it.
    access: Access
    # Unavailable gateways (found unreachable by the health checks) serve nothing.
    status: GatewayStatus = AVAILABLE
    last_seen_ok_at: datetime | None = None
    last_error: str | None = None
    # The credentials the upstream requires: what may be shown (`type` and non-secret
    # fields), and their sealed form (never shown; the proxy unseals it). None / "": none.
    auth: dict[str, Any] | None = None
    auth_sealed: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class HealthTarget:
    """What the health checks need to know of a gateway."""

    id: str
    name: str
    url: str
    status: GatewayStatus
    auth_sealed: str = field(default="", repr=False)


class _Defined:
    """Something described by the upstream's own JSON object."""

    __slots__ = ()
    definition_json: str

    def definition(self) -> dict[str, Any]:
        return orjson.loads(self.definition_json)


class _Named(_Defined):
    __slots__ = ()
    name: str
    gateway_name: str

    @property
    def qualified_name(self) -> str:
        return qualified_name(self.gateway_name, self.name)


@dataclass(frozen=True, slots=True)
class Tool(_Named):
    """One tool of one gateway, as the upstream describes it."""

    id: str
    # The name the upstream knows the tool by.
    name: str
    gateway_id: str
    gateway_name: str
    gateway_url: str
    # The upstream's whole Tool object, as JSON text.
    definition_json: str
    access: Access


@dataclass(frozen=True, slots=True)
class Prompt(_Named):
    """One prompt of one gateway, as the upstream describes it."""

    id: str
    name: str
    gateway_id: str
    gateway_name: str
    gateway_url: str
    definition_json: str
    access: Access


@dataclass(frozen=True, slots=True)
class Resource(_Defined):
    """One resource (or resource template) of one gateway; its URI is never renamed."""

    id: str
    # The resource's URI, or the template's URI template.
    uri: str
    gateway_id: str
    gateway_name: str
    gateway_url: str
    definition_json: str
    access: Access


@dataclass(frozen=True, slots=True)
class ToolBinding:
    """A tool under the name a catalog exposes it by."""

    name: str
    tool: Tool


@dataclass(frozen=True, slots=True)
class PromptBinding:
    """A prompt under the name a catalog exposes it by."""

    name: str
    prompt: Prompt


@dataclass(frozen=True, slots=True)
class GatewayDetail:
    gateway: Gateway
    tools: list[Tool]
    resources: list[Resource] = field(default_factory=list)
    resource_templates: list[Resource] = field(default_factory=list)
    prompts: list[Prompt] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Naming:
    """How a virtual server exposes tool and prompt names.

    `renames` maps a reference (an item's id, or its qualified name `gateway__name`)
    to the name to expose instead; otherwise the name is the upstream's, prefixed by
    the gateway's name and `separator` in "prefix" mode.
    """

    mode: NamingMode = "prefix"
    separator: str = "__"
    renames: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Server:
    """A virtual server: chosen tools, resources and prompts, and whole gateways, under one endpoint."""

    id: str
    name: str
    description: str
    naming: Naming
    created_at: datetime
    created_by: str
    tool_count: int
    resource_count: int
    resource_template_count: int
    prompt_count: int
    access: Access

    @property
    def bare_names(self) -> bool:
        return self.naming.mode == "bare"


@dataclass(frozen=True, slots=True)
class GatewayRef:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Selection:
    """What a server was configured with: chosen items by id (in order) and whole gateways."""

    tools: list[str]
    resources: list[str]
    resource_templates: list[str]
    prompts: list[str]
    gateways: list[GatewayRef]


@dataclass(frozen=True, slots=True)
class Contents:
    """What a server exposes, once its selection and naming are applied."""

    tools: list[ToolBinding]
    resources: list[Resource]
    resource_templates: list[Resource]
    prompts: list[PromptBinding]

    def without(self, gateway_ids: set[str]) -> Contents:
        """The same, less whatever these gateways serve; names of the rest stay as they were."""
        if not gateway_ids:
            return self
        return Contents(
            tools=[b for b in self.tools if b.tool.gateway_id not in gateway_ids],
            resources=[r for r in self.resources if r.gateway_id not in gateway_ids],
            resource_templates=[r for r in self.resource_templates if r.gateway_id not in gateway_ids],
            prompts=[b for b in self.prompts if b.prompt.gateway_id not in gateway_ids],
        )

    def gateway_ids(self) -> set[str]:
        """Every gateway serving something here."""
        return (
            {b.tool.gateway_id for b in self.tools}
            | {b.prompt.gateway_id for b in self.prompts}
            | {r.gateway_id for r in self.resources}
            | {r.gateway_id for r in self.resource_templates}
        )


@dataclass(frozen=True, slots=True)
class ServerDetail:
    server: Server
    selection: Selection
    contents: Contents

    @property
    def tools(self) -> list[ToolBinding]:
        return self.contents.tools


@dataclass(frozen=True, slots=True)
class HeldBack:
    """A tool or prompt left out of a catalog while its gateway is unavailable: the
    proxy tells a caller who may see it why it cannot be called."""

    gateway_name: str
    access: Access


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the data path serves for one server (or for everything when server_id is empty)."""

    server_id: str
    server_name: str
    tools: list[ToolBinding]
    revision: int
    resources: list[Resource] = field(default_factory=list)
    resource_templates: list[Resource] = field(default_factory=list)
    prompts: list[PromptBinding] = field(default_factory=list)
    # Every gateway serving something in this catalog, by name.
    upstreams: list[Gateway] = field(default_factory=list)
    # Held back while their gateway is unavailable, by exposed name.
    held_tools: dict[str, HeldBack] = field(default_factory=dict)
    held_prompts: dict[str, HeldBack] = field(default_factory=dict)
    # The server's own access (None for the catalog of everything).
    server_access: Access | None = None


@dataclass(frozen=True, slots=True)
class ServerTools:
    """A server's access and its tools' by the names it exposes them under."""

    server_id: str
    access: Access
    tools: list[tuple[str, Access]]


@dataclass(frozen=True, slots=True)
class AccessIndex:
    """Who may see each server and each tool as each catalog names it (see `CatalogReader.access_index`)."""

    revision: int
    servers: list[ServerTools]
    # The catalog of everything's, by qualified name.
    tools: list[tuple[str, Access]]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
