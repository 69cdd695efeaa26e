"""Values the registry hands out: gateways, tools, virtual servers, catalogs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson

from switchboard_registry.domain.names import qualified_name

T = TypeVar("T")


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
    tool_count: int


@dataclass(frozen=True, slots=True)
class Tool:
    """One tool of one gateway, as the upstream describes it."""

    id: str
    # The name the upstream knows the tool by.
    name: str
    gateway_id: str
    gateway_name: str
    gateway_url: str
    # The upstream's whole Tool object, as JSON text.
    definition_json: str

    @property
    def qualified_name(self) -> str:
        return qualified_name(self.gateway_name, self.name)

    def definition(self) -> dict[str, Any]:
        return orjson.loads(self.definition_json)


@dataclass(frozen=True, slots=True)
class ToolBinding:
    """A tool under the name a catalog exposes it by."""

    name: str
    tool: Tool


@dataclass(frozen=True, slots=True)
class GatewayDetail:
    gateway: Gateway
    tools: list[Tool]


@dataclass(frozen=True, slots=True)
class Server:
    """A virtual server: chosen tools from any gateways, exposed under one endpoint."""

    id: str
    name: str
    description: str
    bare_names: bool
    created_at: datetime
    created_by: str
    tool_count: int


@dataclass(frozen=True, slots=True)
class ServerDetail:
    server: Server
    tools: list[ToolBinding]


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the data path serves for one server (or for every tool when server_id is empty)."""

    server_id: str
    server_name: str
    tools: list[ToolBinding]
    revision: int


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
