"""The proxy's copy of the registry's catalogs.

A catalog is fetched over gRPC on first use and kept until the registry's change
feed reports a new revision (or `ttl_s` passes, as a safety net). Each cached catalog
is rendered once: the lists clients ask for, and the indexes calls are routed by.

Between replicas (distributed mode) a shared level in Redis sits behind this one,
keyed by revision and server: what one replica fetched at revision R is a Redis hit
for every replica that knows R as the latest. Such keys never need deleting: a change
is a new revision, hence new keys (old ones expire). The registry reads its revision
before the catalog, so what is stored under R is at least as new as R. While the feed
is down the revision is unknown and the shared level is not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field

import grpc
import orjson
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc
from switchboard_core.counters import COUNTERS
from switchboard_core.errors import from_grpc
from switchboard_core.grpc import feeds
from switchboard_core.shared.redis_level import RedisLevel
from switchboard_mcp import param_headers

from switchboard_proxy.uri_templates import compile_template


@dataclass(frozen=True, slots=True)
class Upstream:
    gateway_id: str
    name: str
    url: str
    capabilities: dict


@dataclass(frozen=True, slots=True)
class Binding:
    """Something a client names (a tool, a prompt, a resource) bound to its upstream."""

    name: str
    upstream_name: str
    gateway_id: str
    upstream: Upstream
    # A tool's arguments mirrored in `Mcp-Param-*` headers (2026-07-28), if it declares any.
    param_headers: tuple[param_headers.ParamHeader, ...] = ()


@dataclass(slots=True)
class Catalog:
    server_id: str
    upstreams: dict[str, Upstream]
    tools: list[dict] = field(default_factory=list)
    tools_by_name: dict[str, Binding] = field(default_factory=dict)
    prompts: list[dict] = field(default_factory=list)
    prompts_by_name: dict[str, Binding] = field(default_factory=dict)
    resources: list[dict] = field(default_factory=list)
    resources_by_uri: dict[str, Binding] = field(default_factory=dict)
    templates: list[dict] = field(default_factory=list)
    template_routes: list[tuple[re.Pattern[str], Binding]] = field(default_factory=list)
    # Exposed name -> upstream name, for items held back while their upstream is down.
    unavailable_tools: dict[str, str] = field(default_factory=dict)
    unavailable_prompts: dict[str, str] = field(default_factory=dict)
    fetched_at: float = field(default_factory=time.monotonic)

    def resource(self, uri: str) -> Binding | None:
        """The upstream serving `uri`: a listed resource, else the first template matching it."""
        binding = self.resources_by_uri.get(uri)
        if binding is not None:
            return binding
        for pattern, candidate in self.template_routes:
            if pattern.match(uri):
                return candidate
        return None

    def upstreams_with(self, capability: str) -> list[Upstream]:
        return [u for u in self.upstreams.values() if capability in u.capabilities]


def _definition(raw: bytes) -> dict:
    return orjson.loads(raw) if raw else {}


def _render(reply: registry_pb2.Catalog) -> Catalog:
    upstreams = {
        u.gateway_id: Upstream(u.gateway_id, u.name, u.url, _definition(u.capabilities_json))
        for u in reply.upstreams
    }
    catalog = Catalog(
        reply.server_id,
        upstreams,
        unavailable_tools=dict(reply.unavailable_tools),
        unavailable_prompts=dict(reply.unavailable_prompts),
    )
    for t in reply.tools:
        upstream = upstreams.get(t.gateway_id) or Upstream(
            t.gateway_id, t.gateway_name, t.upstream_url, {"tools": {}}
        )
        definition = _definition(t.definition_json)
        declared = (
            param_headers.declared(definition.get("inputSchema"))
            if param_headers.ANNOTATION.encode() in t.definition_json
            else ()
        )
        catalog.tools_by_name[t.name] = Binding(t.name, t.upstream_name, t.gateway_id, upstream, declared)
        definition["name"] = t.name
        definition.setdefault("inputSchema", {"type": "object"})
        catalog.tools.append(definition)
    for p in reply.prompts:
        if (upstream := upstreams.get(p.gateway_id)) is None:
            continue
        catalog.prompts_by_name[p.name] = Binding(p.name, p.upstream_name, p.gateway_id, upstream)
        definition = _definition(p.definition_json)
        definition["name"] = p.name
        catalog.prompts.append(definition)
    for r in reply.resources:
        if (upstream := upstreams.get(r.gateway_id)) is None:
            continue
        catalog.resources_by_uri[r.uri] = Binding(r.uri, r.uri, r.gateway_id, upstream)
        catalog.resources.append(_definition(r.definition_json))
    for r in reply.resource_templates:
        if (upstream := upstreams.get(r.gateway_id)) is None:
            continue
        catalog.template_routes.append(
            (compile_template(r.uri), Binding(r.uri, r.uri, r.gateway_id, upstream))
        )
        catalog.templates.append(_definition(r.definition_json))
    return catalog


class CatalogCache:
    def __init__(
        self, channel: grpc.aio.Channel, *, timeout_s: float, ttl_s: float, shared: RedisLevel | None = None
    ) -> None:
        self._stub = registry_pb2_grpc.RegistryServiceStub(channel)
        self._timeout_s = timeout_s
        self._ttl_s = ttl_s
        self._shared = shared
        self._revision: int | None = None  # the latest the feed told; None while it is down
        self._catalogs: dict[str, Catalog] = {}
        self._inflight: dict[str, asyncio.Future[Catalog]] = {}
        self._epoch = 0  # bumped by every change
        self._watch: asyncio.Task | None = None
        self._listeners: list = []

    async def get(self, server_id: str) -> Catalog:
        catalog = self._catalogs.get(server_id)
        if catalog is not None and time.monotonic() - catalog.fetched_at < self._ttl_s:
            COUNTERS.add("cache.catalog.hits")
            return catalog
        # One fetch per catalog however many requests miss at once.
        pending = self._inflight.get(server_id)
        if pending is not None:
            return await asyncio.shield(pending)
        COUNTERS.add("cache.catalog.misses")
        future: asyncio.Future[Catalog] = asyncio.get_running_loop().create_future()
        self._inflight[server_id] = future
        epoch = self._epoch
        try:
            catalog = await self._fetch(server_id)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # consumed here; waiters re-raise their own copy
            raise
        finally:
            if self._inflight.get(server_id) is future:
                del self._inflight[server_id]
        future.set_result(catalog)
        if epoch == self._epoch:  # else it may predate the change: answered, not kept
            self._catalogs[server_id] = catalog
        return catalog

    async def _fetch(self, server_id: str) -> Catalog:
        key = None if self._shared is None or self._revision is None else f"{self._revision}:{server_id}"
        if key is not None and (raw := await self._shared.get(key)) is not None:
            return _render(registry_pb2.Catalog.FromString(raw))
        try:
            reply = await self._stub.GetCatalog(
                registry_pb2.GetCatalogRequest(server_id=server_id), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc, "registry") from exc
        if key is not None:
            await self._shared.put(key, reply.SerializeToString())
        return _render(reply)

    def on_change(self, listener) -> None:
        """Call `listener()` after each catalog change (to tell open sessions)."""
        self._listeners.append(listener)

    def invalidate(self) -> None:
        self._epoch += 1
        self._catalogs.clear()
        # Requests from now on wait for a fetch that starts after the change.
        self._inflight.clear()

    def _changed(self, change: registry_pb2.CatalogChange) -> None:
        self._revision = change.revision
        self.invalidate()
        for listener in self._listeners:
            listener()

    def start_watching(self) -> None:
        self._watch = asyncio.create_task(self._follow_changes(), name="catalog-changes")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._shared is not None:
            await self._shared.close()

    async def _follow_changes(self) -> None:
        await feeds.follow(
            "catalog",
            lambda: self._stub.WatchCatalog(registry_pb2.WatchCatalogRequest()),
            self._changed,
            self._lost_track,
        )

    def _lost_track(self) -> None:
        self._revision = None
        self.invalidate()
