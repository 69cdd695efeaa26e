"""The proxy's copy of the registry's catalogs.

A catalog is fetched over gRPC on first use and kept until the registry's change
feed reports a new revision (or `ttl_s` passes, as a safety net). Each cached catalog
carries its tool list already rendered for tools/list, so listing costs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import grpc
import orjson
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc
from switchboard_core.errors import from_grpc
from switchboard_core.grpc import feeds


@dataclass(frozen=True, slots=True)
class Binding:
    name: str
    upstream_name: str
    gateway_id: str
    gateway_name: str
    upstream_url: str


@dataclass(frozen=True, slots=True)
class Catalog:
    server_id: str
    by_name: dict[str, Binding]
    # tools/list entries: the upstream definitions under their exposed names.
    tools: list[dict]
    fetched_at: float


def _render(reply: registry_pb2.Catalog) -> Catalog:
    by_name: dict[str, Binding] = {}
    tools: list[dict] = []
    for t in reply.tools:
        by_name[t.name] = Binding(t.name, t.upstream_name, t.gateway_id, t.gateway_name, t.upstream_url)
        definition = orjson.loads(t.definition_json) if t.definition_json else {}
        definition["name"] = t.name
        definition.setdefault("inputSchema", {"type": "object"})
        tools.append(definition)
    return Catalog(reply.server_id, by_name, tools, time.monotonic())


class CatalogCache:
    def __init__(self, channel: grpc.aio.Channel, *, timeout_s: float, ttl_s: float) -> None:
        self._stub = registry_pb2_grpc.RegistryServiceStub(channel)
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._catalogs: dict[str, Catalog] = {}
        self._inflight: dict[str, asyncio.Future[Catalog]] = {}
        self._watch: asyncio.Task | None = None
        self.hits = 0
        self.misses = 0

    async def get(self, server_id: str) -> Catalog:
        catalog = self._catalogs.get(server_id)
        if catalog is not None and time.monotonic() - catalog.fetched_at < self._ttl_s:
            self.hits += 1
            return catalog
        # One fetch per catalog however many requests miss at once.
        pending = self._inflight.get(server_id)
        if pending is not None:
            return await asyncio.shield(pending)
        self.misses += 1
        future: asyncio.Future[Catalog] = asyncio.get_running_loop().create_future()
        self._inflight[server_id] = future
        try:
            catalog = await self._fetch(server_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # consumed here; waiters re-raise their own copy
            raise
        finally:
            del self._inflight[server_id]
        future.set_result(catalog)
        self._catalogs[server_id] = catalog
        return catalog

    async def _fetch(self, server_id: str) -> Catalog:
        try:
            reply = await self._stub.GetCatalog(
                registry_pb2.GetCatalogRequest(server_id=server_id), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc, "registry") from exc
        return _render(reply)

    def invalidate(self) -> None:
        self._catalogs.clear()

    def start_watching(self) -> None:
        self._watch = asyncio.create_task(self._follow_changes(), name="catalog-changes")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    async def _follow_changes(self) -> None:
        await feeds.follow(
            "catalog",
            lambda: self._stub.WatchCatalog(registry_pb2.WatchCatalogRequest()),
            lambda _change: self.invalidate(),
            self.invalidate,
        )
