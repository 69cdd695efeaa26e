"""The registry's gRPC face: catalogs for the data path and the change feed.

Translation only; errors raised by the domain become status codes in the server
interceptor (NOT_FOUND for an unknown server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import grpc
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc

from switchboard_registry.domain.models import Catalog, ToolBinding
from switchboard_registry.domain.registry import Registry


class RegistryServicer(registry_pb2_grpc.RegistryServiceServicer):
    def __init__(self, registry: Callable[[], Registry]) -> None:
        self._registry = registry

    async def GetCatalog(
        self, request: registry_pb2.GetCatalogRequest, context: grpc.aio.ServicerContext
    ) -> registry_pb2.Catalog:
        return catalog_to_proto(await self._registry().catalog.catalog(request.server_id))

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
    )


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
    )
