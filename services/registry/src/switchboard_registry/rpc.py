"""The registry's gRPC face: catalogs (tools, resources, templates, prompts, upstreams), the
access index and the change feed.

Translation only; errors raised by the domain become status codes in the server
interceptor (NOT_FOUND for an unknown server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc
import orjson
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc

from switchboard_registry.domain.models import (
    Access,
    AccessIndex,
    Catalog,
    Gateway,
    HeldBack,
    PromptBinding,
    Resource,
    ToolBinding,
)
from switchboard_registry.domain.registry import Registry


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, registry: Callable[[], Registry]) -> None:
        self._registry = registry

    async def GetCatalog(
        self, request: registry_pb2.GetCatalogRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.Catalog:
        return catalog_to_proto(await self._registry().catalog.catalog(request.server_id))

    async def GetAccessIndex(
        self, request: registry_pb2.GetAccessIndexRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.AccessIndex:
        return access_index_to_proto(await self._registry().catalog.access_index())

    async def WatchCatalog(
        self, request: registry_pb2.WatchCatalogRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[registry_pb2.CatalogChange]:
        """The current revision first (so a reconnecting cache sees what it missed), then each newer one."""
        async for revision in self._registry().changes.watch():
            yield registry_pb2.CatalogChange(revision=revision)


def catalog_to_proto(catalog: Catalog) -> registry_pb2.Catalog:
    return registry_pb2.Catalog(
        server_id=catalog.server_id,
        server_name=catalog.server_name,
        tools=[binding_to_proto(binding) for binding in catalog.tools],
        revision=catalog.revision,
        resources=[resource_to_proto(resource) for resource in catalog.resources],
        resource_templates=[resource_to_proto(template) for template in catalog.resource_templates],
        prompts=[prompt_to_proto(binding) for binding in catalog.prompts],
        upstreams=[upstream_to_proto(gateway) for gateway in catalog.upstreams],
        server_access=None if catalog.server_access is None else access_to_proto(catalog.server_access),
        held_tools={name: held_to_proto(held) for name, held in catalog.held_tools.items()},
        held_prompts={name: held_to_proto(held) for name, held in catalog.held_prompts.items()},
    )


def access_index_to_proto(index: AccessIndex) -> registry_pb2.AccessIndex:
    return registry_pb2.AccessIndex(
        revision=index.revision,
        servers=[
            registry_pb2.ServerAccess(
                server_id=server.server_id,
                access=access_to_proto(server.access),
                tools=[_named(name, access) for name, access in server.tools],
            )
            for server in index.servers
        ],
        tools=[_named(name, access) for name, access in index.tools],
    )


def _named(name: str, access: Access) -> registry_pb2.NamedAccess:
    return registry_pb2.NamedAccess(name=name, access=access_to_proto(access))


def held_to_proto(held: HeldBack) -> registry_pb2.HeldBack:
    return registry_pb2.HeldBack(gateway_name=held.gateway_name, access=access_to_proto(held.access))


def access_to_proto(access: Access) -> registry_pb2.Access:
    return registry_pb2.Access(owner_id=access.owner_id, team_id=access.team_id, visibility=access.visibility)


def binding_to_proto(binding: ToolBinding) -> registry_pb2.ToolBinding:
    tool = binding.tool
    return registry_pb2.ToolBinding(
        tool_id=tool.id,
        name=binding.name,
        upstream_name=tool.name,
        gateway_id=tool.gateway_id,
        gateway_name=tool.gateway_name,
        upstream_url=tool.gateway_url,
        definition_json=tool.definition_json.encode(),
        access=access_to_proto(tool.access),
    )


def resource_to_proto(resource: Resource) -> registry_pb2.ResourceBinding:
    return registry_pb2.ResourceBinding(
        resource_id=resource.id,
        uri=resource.uri,
        gateway_id=resource.gateway_id,
        definition_json=resource.definition_json.encode(),
        access=access_to_proto(resource.access),
    )


def prompt_to_proto(binding: PromptBinding) -> registry_pb2.PromptBinding:
    prompt = binding.prompt
    return registry_pb2.PromptBinding(
        prompt_id=prompt.id,
        name=binding.name,
        upstream_name=prompt.name,
        gateway_id=prompt.gateway_id,
        definition_json=prompt.definition_json.encode(),
        access=access_to_proto(prompt.access),
    )


def upstream_to_proto(gateway: Gateway) -> registry_pb2.Upstream:
    return registry_pb2.Upstream(
        gateway_id=gateway.id,
        name=gateway.name,
        url=gateway.url,
        capabilities_json=orjson.dumps(gateway.capabilities),
        auth_sealed=gateway.auth_sealed,
    )
