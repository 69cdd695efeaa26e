"""Registering, refreshing and removing upstream gateways.

The upstream is asked what it offers before any transaction opens; the database is
then written in one short transaction, so nothing is stored for an upstream that
could not be listed. A refresh that would make a virtual server including the
gateway expose clashing or bad names is rolled back: the old listing stays.
Refreshes of one gateway (by an administrator, the health checks, the upstream's
own announcements) take turns within a process.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from switchboard_core.audit import safe_url
from switchboard_core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Unprocessable,
    UpstreamError,
    UpstreamUnavailable,
)
from switchboard_core.policy import decide
from switchboard_mcp.upstream import Credentials

from switchboard_registry.domain import composition
from switchboard_registry.domain.access import (
    REACH,
    SYSTEM,
    Caller,
    changed,
    chosen,
    item_viewers,
    require,
    seen,
    viewer,
)
from switchboard_registry.domain.audit_outbox import event
from switchboard_registry.domain.changes import Changes
from switchboard_registry.domain.discovery import Discovery, discover, reason
from switchboard_registry.domain.models import AVAILABLE, Gateway, GatewayDetail, Page
from switchboard_registry.domain.names import (
    check_exposed,
    check_gateway_name,
    check_upstream_url,
    qualified_name,
)
from switchboard_registry.domain.naming import problems
from switchboard_registry.domain.upstream_access import UpstreamAccess, public
from switchboard_registry.store import revision as revision_store
from switchboard_registry.store.gateways import (
    delete_gateway,
    gateway_access,
    get_gateway,
    insert_gateway,
    list_gateways,
    mark_refreshed,
    replace_capabilities,
    set_auth,
    set_gateway_access,
    set_status,
    taken,
)
from switchboard_registry.store.listings import (
    PROMPTS,
    RESOURCES,
    TEMPLATES,
    TOOLS,
    Kind,
    insert_items,
    item,
    of_gateway,
    replace_items,
)
from switchboard_registry.store.listings import set_item_access as set_listed_access
from switchboard_registry.store.servers import get_server, servers_including


def _listed(found: Discovery) -> list[tuple[Kind[Any], dict[str, str]]]:
    return [
        (TOOLS, found.tools),
        (RESOURCES, found.resources),
        (TEMPLATES, found.resource_templates),
        (PROMPTS, found.prompts),
    ]


class Gateways:
    def __init__(
        self, sessions: async_sessionmaker, changes: Changes, upstreams: UpstreamAccess, *, timeout_s: float
    ) -> None:
        self._sessions = sessions
        self._changes = changes
        self._upstreams = upstreams
        self._timeout_s = timeout_s
        # One lock per gateway being refreshed, gone once nobody holds or waits on it.
        self._refreshing: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def register(
        self,
        name: str,
        url: str,
        *,
        by: Caller,
        team_id: str | None = None,
        visibility: str | None = None,
        auth: Credentials | None = None,
    ) -> GatewayDetail:
        """Owned by `by`, in `team_id` (default: their personal team), `visibility` (default "team");
        the upstream is reached with `auth` (stored sealed) from its first listing on."""
        access = chosen(by, "gateways.create", team_id=team_id, visibility=visibility)
        check_gateway_name(name)
        check_upstream_url(url)
        gateway_id = str(uuid.uuid4())
        sealed = self._upstreams.seal(auth, gateway_id) if auth is not None else ""
        async with self._sessions() as s:
            already = await taken(s, name, url)
        if already:
            raise Conflict("; ".join(already))
        try:
            http = self._upstreams.client(gateway_id, name, url, sealed)
            found = await discover(http, url, timeout_s=self._timeout_s)
        except UpstreamError as exc:
            raise InvalidInput(f"could not register {name!r}: {reason(url, exc)}") from exc
        _check_names(name, found, doing="register")
        summary = {
            "name": name,
            "url": safe_url(url),
            "team_id": access.team_id,
            "visibility": access.visibility,
        }
        if auth is not None:
            summary["auth"] = auth.kind
        audit = event(by, "gateway.create", "gateway", gateway_id, summary)
        async with self._changes.change(audit) as s:
            await insert_gateway(
                s,
                id=gateway_id,
                name=name,
                url=url,
                at=datetime.now(UTC),
                created_by=by.user_id,
                server_info=found.server_info,
                capabilities=found.capabilities,
                access=access,
                auth_sealed=sealed or None,
                auth_public=public(auth) if auth is not None else None,
            )
            for kind, definitions in _listed(found):
                await insert_items(s, kind, gateway_id, definitions, access)
        return await self.get(gateway_id, by=by)

    async def refresh(self, gateway_id: str, *, by: Caller = SYSTEM) -> GatewayDetail:
        """List what the upstream offers again; items still listed keep their ids.

        A gateway taken out by the health checks is available again once this succeeds.
        """
        await self.writable(gateway_id, by, "gateways.update")
        lock = self._refreshing.get(gateway_id)
        if lock is None:
            lock = self._refreshing[gateway_id] = asyncio.Lock()
        async with lock:
            return _as_seen_by(by, await self._refresh(gateway_id, by))

    async def _refresh(self, gateway_id: str, by: Caller) -> GatewayDetail:
        gateway = (await self.get(gateway_id)).gateway
        try:
            http = self._upstreams.client(gateway.id, gateway.name, gateway.url, gateway.auth_sealed)
            found = await discover(http, gateway.url, timeout_s=self._timeout_s)
        except UpstreamUnavailable as exc:
            raise UpstreamUnavailable(f"could not refresh {gateway.name!r}: {exc.message}") from exc
        except UpstreamError as exc:
            raise UpstreamError(f"could not refresh {gateway.name!r}: {reason(gateway.url, exc)}") from exc
        _check_names(gateway.name, found, doing="refresh")
        revision = 0
        async with self._sessions.begin() as s:
            # Updating the gateway row first takes the write lock before anything is read.
            if not await mark_refreshed(s, gateway_id, at=datetime.now(UTC), server_info=found.server_info):
                raise NotFound(f"no gateway {gateway_id!r}")
            access = await gateway_access(s, gateway_id)
            changed = await replace_capabilities(s, gateway_id, found.capabilities)
            for kind, definitions in _listed(found):
                changed = await replace_items(s, kind, gateway_id, definitions, access) or changed
            if changed:
                await _check_servers_including(s, gateway)
            # It answered, so it serves again if the health checks had taken it out.
            changed = await set_status(s, gateway_id, AVAILABLE, last_seen_ok_at=None) or changed
            if changed:
                revision = await revision_store.bump(s)
            audit = event(by, "gateway.refresh", "gateway", gateway_id, {"catalog_changed": changed})
            await self._changes.audited(s, audit)
        self._changes.audit_committed(audit)
        if revision:
            await self._changes.announce(revision)
        return await self.get(gateway_id)

    async def delete(self, gateway_id: str, *, by: Caller) -> None:
        await self.writable(gateway_id, by, "gateways.delete")
        async with self._changes.change(event(by, "gateway.delete", "gateway", gateway_id)) as s:
            if not await delete_gateway(s, gateway_id):
                raise NotFound(f"no gateway {gateway_id!r}")

    async def writable(self, gateway_id: str, by: Caller, permission: str) -> Gateway:
        """The gateway, if `by` sees it (else NotFound) and may do `permission` to it (else PermissionDenied)."""
        async with self._sessions() as s:
            gateway = await get_gateway(s, gateway_id)
        if gateway is None:
            raise NotFound(f"no gateway {gateway_id!r}")
        seen(by, "gateways.read", gateway.access, f"gateway {gateway_id!r}")
        require(by, permission, gateway.access)
        return gateway

    async def set_access(
        self, gateway_id: str, *, by: Caller, team_id: str | None = None, visibility: str | None = None
    ) -> GatewayDetail:
        """Move the gateway to another team or visibility; everything it lists follows."""
        gateway = await self.writable(gateway_id, by, "gateways.update")
        access = changed(by, "gateways.update", gateway.access, team_id=team_id, visibility=visibility)
        if access != gateway.access:
            summary = {"team_id": access.team_id, "visibility": access.visibility}
            async with self._changes.change(event(by, "gateway.access", "gateway", gateway_id, summary)) as s:
                await set_gateway_access(s, gateway_id, access)
        return await self.get(gateway_id, by=by)

    async def set_auth(self, gateway_id: str, *, by: Caller, auth: Credentials | None) -> GatewayDetail:
        """Reach the upstream with `auth` from now on (None: with no credentials).

        The catalog revision rises, so the proxies drop their sessions with the old ones."""
        await self.writable(gateway_id, by, "gateways.update")
        sealed = self._upstreams.seal(auth, gateway_id) if auth is not None else None
        summary = {"auth": auth.kind if auth is not None else None}
        async with self._changes.change(event(by, "gateway.auth", "gateway", gateway_id, summary)) as s:
            shown = public(auth) if auth is not None else None
            if not await set_auth(s, gateway_id, sealed=sealed, public=shown):
                raise NotFound(f"no gateway {gateway_id!r}")
        return await self.get(gateway_id, by=by)

    async def set_item_access(self, kind: Kind[Any], item_id: str, *, by: Caller, visibility: str) -> Any:
        """Narrow (or widen, up to its gateway's) who sees one tool, resource, template or prompt."""
        async with self._sessions() as s:
            found = await item(s, kind, item_id)
            gateway = None if found is None else await get_gateway(s, found.gateway_id)
        if found is None or gateway is None:
            raise NotFound(f"no {kind.noun} {item_id!r}")
        permission = _READ[kind.noun]
        seen(by, permission, found.access, f"{kind.noun} {item_id!r}")
        seen(by, "gateways.read", gateway.access, f"{kind.noun} {item_id!r}")
        # Items are changed by whoever may change their gateway.
        access = changed(by, "gateways.update", gateway.access, team_id=None, visibility=visibility)
        if REACH[access.visibility] > REACH[gateway.access.visibility]:
            raise Unprocessable(
                f"a {kind.noun} cannot be more visible than its gateway {gateway.name!r}, "
                f"which is {gateway.access.visibility!r}"
            )
        if access != found.access:
            entity = kind.noun.replace(" ", "_")  # resource_template
            audit = event(by, f"{entity}.access", entity, item_id, {"visibility": access.visibility})
            async with self._changes.change(audit) as s:
                await set_listed_access(s, kind, item_id, access)
        async with self._sessions() as s:
            return await item(s, kind, item_id)

    async def get(self, gateway_id: str, *, by: Caller = SYSTEM) -> GatewayDetail:
        """The gateway and what it lists that `by` sees (NotFound if they do not see the gateway)."""
        async with self._sessions() as s:
            gateway = await get_gateway(s, gateway_id, item_viewers(by))
            if gateway is None:
                raise NotFound(f"no gateway {gateway_id!r}")
            seen(by, "gateways.read", gateway.access, f"gateway {gateway_id!r}")
            detail = GatewayDetail(
                gateway,
                tools=await of_gateway(s, TOOLS, gateway_id),
                resources=await of_gateway(s, RESOURCES, gateway_id),
                resource_templates=await of_gateway(s, TEMPLATES, gateway_id),
                prompts=await of_gateway(s, PROMPTS, gateway_id),
            )
        return _as_seen_by(by, detail)

    async def page(self, *, by: Caller, limit: int, offset: int) -> Page[Gateway]:
        async with self._sessions() as s:
            return await list_gateways(
                s, viewer(by, "gateways.read"), item_viewers(by), limit=limit, offset=offset
            )


_READ = {
    TOOLS.noun: "tools.read",
    PROMPTS.noun: "prompts.read",
    RESOURCES.noun: "resources.read",
    TEMPLATES.noun: "resources.read",
}


def _as_seen_by(by: Caller, detail: GatewayDetail) -> GatewayDetail:
    """The detail less the items `by` may not see."""
    return replace(
        detail,
        tools=[t for t in detail.tools if decide(by, "tools.read", t.access)],
        resources=[r for r in detail.resources if decide(by, "resources.read", r.access)],
        resource_templates=[r for r in detail.resource_templates if decide(by, "resources.read", r.access)],
        prompts=[p for p in detail.prompts if decide(by, "prompts.read", p.access)],
    )


def _check_names(gateway_name: str, found: Discovery, *, doing: str) -> None:
    """Everything is exposed by qualified name in the catalog of everything, so those must fit."""
    where = f"could not {doing} {gateway_name!r}"
    check_exposed((qualified_name(gateway_name, t) for t in found.tools), noun="tool", where=where)
    check_exposed((qualified_name(gateway_name, p) for p in found.prompts), noun="prompt", where=where)


async def _check_servers_including(s: AsyncSession, gateway: Gateway) -> None:
    """Refuse the new listing if a server including the gateway would then expose bad or clashing names."""
    refused: dict[str, dict[str, Any]] = {}
    reasons = []
    for server_id in await servers_including(s, gateway.id):
        server = await get_server(s, server_id)
        if server is None:
            continue
        _, contents = await composition.read(s, server)
        found = problems(contents)
        if found:
            refused[server.name] = {"id": server.id, **found.data()}
            reasons.append(f"in server {server.name!r}, {found.describe()}")
    if refused:
        raise Conflict(
            f"could not refresh {gateway.name!r}: {'; '.join(reasons)}; "
            "the gateway keeps its previous listing until those servers are changed",
            data={"servers": refused},
        )
