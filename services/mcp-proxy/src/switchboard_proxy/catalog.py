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

Upstreams' credentials arrive sealed; they are opened here, once per catalog rendered
(never per call), with the keys the registry sealed them with. Credentials no key opens
make that gateway's calls fail with an error naming it and the key, nothing more.

One catalog serves every caller: each binding, and the server, carries its owner, team
and visibility (`policy.Target`), and what a caller may see of it is decided in the
proxy (`catalog_views`), memoized on the catalog object, so a change drops those too.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import orjson
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc
from switchboard_core.counters import COUNTERS
from switchboard_core.errors import UpstreamError, from_grpc
from switchboard_core.grpc import feeds
from switchboard_core.policy import Target
from switchboard_core.security.sealing import SealError, SecretKeys
from switchboard_core.shared.redis_level import RedisLevel
from switchboard_mcp import param_headers
from switchboard_mcp.upstream import UpstreamAuth, open_auth

from switchboard_proxy.uri_templates import compile_template


@dataclass(frozen=True, slots=True)
class Upstream:
    gateway_id: str
    name: str
    url: str
    capabilities: dict
    # The credentials it is reached with, opened; or why they could not be.
    auth: UpstreamAuth | None = field(default=None, compare=False, repr=False)
    auth_error: str = ""

    def credentials(self) -> UpstreamAuth | None:
        """What to reach the upstream with; `UpstreamError` when its credentials would not open."""
        if self.auth_error:
            raise UpstreamError(self.auth_error)
        return self.auth


_NO_KEYS = SecretKeys()


def _upstream(u: registry_pb2.Upstream, keys: SecretKeys) -> Upstream:
    capabilities = _definition(u.capabilities_json)
    if not u.auth_sealed:
        return Upstream(u.gateway_id, u.name, u.url, capabilities)
    try:
        auth = open_auth(u.auth_sealed, gateway_id=u.gateway_id, url=u.url, keys=keys)
    except (SealError, ValueError) as exc:
        why = exc.message if isinstance(exc, SealError) else "they are malformed"
        error = f"the credentials of gateway {u.name!r} cannot be opened: {why}"
        return Upstream(u.gateway_id, u.name, u.url, capabilities, auth_error=error)
    return Upstream(u.gateway_id, u.name, u.url, capabilities, auth)


# What an entity (or a server) the registry sent no access for is taken as: private to
# no one, so only platform administrators see it. Failing closed: a registry predating
# visibility, or a bug dropping the field, must not show private items to everybody.
UNSHARED = Target(team_id="", owner_id="", visibility="private")


@dataclass(frozen=True, slots=True)
class Binding:
    """Something a client names (a tool, a prompt, a resource) bound to its upstream."""

    name: str
    upstream_name: str
    gateway_id: str
    upstream: Upstream
    # A tool's arguments mirrored in `Mcp-Param-*` headers (2026-07-28), if it declares any.
    param_headers: tuple[param_headers.ParamHeader, ...] = ()
    access: Target = UNSHARED


@dataclass(frozen=True, slots=True)
class HeldBack:
    """A tool or prompt left out while its upstream is down."""

    gateway_name: str
    access: Target


@dataclass(slots=True)
class Catalog:
    server_id: str
    upstreams: dict[str, Upstream]
    tools: list[dict] = field(default_factory=list)
    tools_by_name: dict[str, Binding] = field(default_factory=dict)
    prompts: list[dict] = field(default_factory=list)
    prompts_by_name: dict[str, Binding] = field(default_factory=dict)
    resources: list[dict] = field(default_factory=list)
    # Every gateway's offer of a URI, in the registry's order (the all-tools catalog may
    # have several: each caller is served the first it may read).
    resources_by_uri: dict[str, list[Binding]] = field(default_factory=dict)
    templates: list[dict] = field(default_factory=list)
    template_routes: list[tuple[re.Pattern[str], Binding]] = field(default_factory=list)
    # Items held back while their upstream is down, by exposed name.
    held_tools: dict[str, HeldBack] = field(default_factory=dict)
    held_prompts: dict[str, HeldBack] = field(default_factory=dict)
    # Who may connect to the virtual server (None: the catalog of every tool, `/mcp`).
    server_access: Target | None = None
    # The access of each entry of `tools`, `prompts`, `resources` and `templates`, in order.
    tool_access: list[Target] = field(default_factory=list)
    prompt_access: list[Target] = field(default_factory=list)
    resource_access: list[Target] = field(default_factory=list)
    template_access: list[Target] = field(default_factory=list)
    # What each caller may see of this catalog, by access key (catalog_views).
    views: dict = field(default_factory=dict)
    fetched_at: float = field(default_factory=time.monotonic)

    def resource(self, uri: str, readable: Callable[[Binding], bool] | None = None) -> Binding | None:
        """The upstream serving `uri`: the first offer of it as a listed resource, else
        the first template matching it (of those `readable` accepts, when given)."""
        for binding in self.resources_by_uri.get(uri, ()):
            if readable is None or readable(binding):
                return binding
        for pattern, candidate in self.template_routes:
            if pattern.match(uri) and (readable is None or readable(candidate)):
                return candidate
        return None

    def offers(self, uri: str) -> list[Binding]:
        """Every upstream offering `uri`, as a listed resource or through a template."""
        listed = self.resources_by_uri.get(uri, [])
        return [*listed, *(binding for pattern, binding in self.template_routes if pattern.match(uri))]

    def upstreams_with(self, capability: str) -> list[Upstream]:
        return [u for u in self.upstreams.values() if capability in u.capabilities]


def _definition(raw: bytes) -> dict:
    return orjson.loads(raw) if raw else {}


def _target(access: registry_pb2.Access) -> Target:
    return Target(team_id=access.team_id, owner_id=access.owner_id, visibility=access.visibility)


def _access(binding) -> Target:
    """A binding's access (a ToolBinding's, ResourceBinding's or PromptBinding's)."""
    return _target(binding.access) if binding.HasField("access") else UNSHARED


def _server_access(reply: registry_pb2.Catalog) -> Target | None:
    """Who may use the catalog's server; None for the catalog of every tool (no server)."""
    if reply.HasField("server_access"):
        return _target(reply.server_access)
    return UNSHARED if reply.server_id else None


def _held(held: registry_pb2.HeldBack) -> HeldBack:
    return HeldBack(held.gateway_name, _access(held))


def render(reply: registry_pb2.Catalog, keys: SecretKeys = _NO_KEYS) -> Catalog:
    upstreams = {u.gateway_id: _upstream(u, keys) for u in reply.upstreams}
    catalog = Catalog(
        reply.server_id,
        upstreams,
        held_tools={name: _held(held) for name, held in reply.held_tools.items()},
        held_prompts={name: _held(held) for name, held in reply.held_prompts.items()},
        server_access=_server_access(reply),
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
        access = _access(t)
        catalog.tools_by_name[t.name] = Binding(
            t.name, t.upstream_name, t.gateway_id, upstream, declared, access
        )
        definition["name"] = t.name
        definition.setdefault("inputSchema", {"type": "object"})
        catalog.tools.append(definition)
        catalog.tool_access.append(access)
    for p in reply.prompts:
        if (upstream := upstreams.get(p.gateway_id)) is None:
            continue
        access = _access(p)
        catalog.prompts_by_name[p.name] = Binding(
            p.name, p.upstream_name, p.gateway_id, upstream, access=access
        )
        definition = _definition(p.definition_json)
        definition["name"] = p.name
        catalog.prompts.append(definition)
        catalog.prompt_access.append(access)
    for r in reply.resources:
        if (upstream := upstreams.get(r.gateway_id)) is None:
            continue
        access = _access(r)
        catalog.resources_by_uri.setdefault(r.uri, []).append(
            Binding(r.uri, r.uri, r.gateway_id, upstream, access=access)
        )
        catalog.resources.append(_definition(r.definition_json))
        catalog.resource_access.append(access)
    for r in reply.resource_templates:
        if (upstream := upstreams.get(r.gateway_id)) is None:
            continue
        access = _access(r)
        catalog.template_routes.append(
            (compile_template(r.uri), Binding(r.uri, r.uri, r.gateway_id, upstream, access=access))
        )
        catalog.templates.append(_definition(r.definition_json))
        catalog.template_access.append(access)
    return catalog


class CatalogCache:
    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout_s: float,
        ttl_s: float,
        shared: RedisLevel | None = None,
        keys: SecretKeys = _NO_KEYS,
    ) -> None:
        self._stub = registry_pb2_grpc.RegistryServiceStub(channel)
        self._keys = keys
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
            return render(registry_pb2.Catalog.FromString(raw), self._keys)
        try:
            reply = await self._stub.GetCatalog(
                registry_pb2.GetCatalogRequest(server_id=server_id), timeout=self._timeout_s
            )
        except grpc.aio.AioRpcError as exc:
            raise from_grpc(exc, "registry") from exc
        if key is not None:
            await self._shared.put(key, reply.SerializeToString())
        return render(reply, self._keys)

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
