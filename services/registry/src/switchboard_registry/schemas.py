"""JSON shapes of the registry's HTTP API, and how domain values become them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from switchboard_registry.domain.models import Gateway, GatewayDetail, Server, ServerDetail, Tool, ToolBinding

T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class GatewayIn(BaseModel):
    name: str = Field(description="1 to 32 letters, digits, '_' or '-'; prefixes the names of its tools.")
    url: str = Field(description="The upstream's Streamable HTTP endpoint (http or https).")


class ToolOut(BaseModel):
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
        )


class GatewayOut(BaseModel):
    id: str
    name: str
    url: str
    created_at: datetime
    created_by: str
    last_refreshed_at: datetime
    server_info: dict[str, Any]
    tool_count: int

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
            tool_count=gateway.tool_count,
        )


class GatewayDetailOut(GatewayOut):
    tools: list[ToolOut]

    @classmethod
    def of_detail(cls, detail: GatewayDetail) -> GatewayDetailOut:
        base = GatewayOut.of(detail.gateway).model_dump()
        return cls(**base, tools=[ToolOut.of(tool) for tool in detail.tools])


class ServerIn(BaseModel):
    name: str
    description: str = ""
    tools: list[str] = Field(
        description="Tool ids or qualified names (`<gateway>__<tool>`), in exposed order."
    )
    bare_names: bool = Field(
        default=False,
        description="Expose upstream names without the gateway prefix; refused if two would clash.",
    )


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


class ServerOut(BaseModel):
    id: str
    name: str
    description: str
    bare_names: bool
    created_at: datetime
    created_by: str
    tool_count: int

    @classmethod
    def of(cls, server: Server) -> ServerOut:
        return cls(
            id=server.id,
            name=server.name,
            description=server.description,
            bare_names=server.bare_names,
            created_at=server.created_at,
            created_by=server.created_by,
            tool_count=server.tool_count,
        )


class ServerDetailOut(ServerOut):
    tools: list[ServerToolOut]

    @classmethod
    def of_detail(cls, detail: ServerDetail) -> ServerDetailOut:
        base = ServerOut.of(detail.server).model_dump()
        return cls(**base, tools=[ServerToolOut.of(binding) for binding in detail.tools])
