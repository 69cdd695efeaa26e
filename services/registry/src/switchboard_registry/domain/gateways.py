"""Registering, refreshing and removing upstream gateways.

The upstream is asked for its tools before any transaction opens; the database is
then written in one short transaction, so nothing is stored for an upstream that
could not be listed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.errors import Conflict, InvalidInput, NotFound, UpstreamError, UpstreamUnavailable
from switchboard_mcp.upstream import HttpClient

from switchboard_registry.domain.changes import Changes
from switchboard_registry.domain.discovery import Discovery, discover, reason
from switchboard_registry.domain.models import Gateway, GatewayDetail, Page
from switchboard_registry.domain.names import (
    check_gateway_name,
    check_lengths,
    check_upstream_url,
    qualified_name,
)
from switchboard_registry.store import revision as revision_store
from switchboard_registry.store.gateways import (
    delete_gateway,
    get_gateway,
    insert_gateway,
    list_gateways,
    mark_refreshed,
    taken,
)
from switchboard_registry.store.tools import insert_tools, replace_tools, tools_of_gateway


class Gateways:
    def __init__(
        self, sessions: async_sessionmaker, changes: Changes, http: HttpClient, *, timeout_s: float
    ) -> None:
        self._sessions = sessions
        self._changes = changes
        self._http = http
        self._timeout_s = timeout_s

    async def register(self, name: str, url: str, *, by: str) -> GatewayDetail:
        check_gateway_name(name)
        check_upstream_url(url)
        async with self._sessions() as s:
            problems = await taken(s, name, url)
        if problems:
            raise Conflict("; ".join(problems))
        try:
            found = await discover(self._http, url, timeout_s=self._timeout_s)
        except UpstreamError as exc:
            raise InvalidInput(f"could not register {name!r}: {reason(url, exc)}") from exc
        _check_names(name, found, doing="register")
        gateway_id = str(uuid.uuid4())
        async with self._changes.change() as s:
            now = datetime.now(UTC)
            await insert_gateway(
                s, id=gateway_id, name=name, url=url, at=now, created_by=by, server_info=found.server_info
            )
            await insert_tools(s, gateway_id, found.definitions)
        return await self.get(gateway_id)

    async def refresh(self, gateway_id: str) -> GatewayDetail:
        """List the upstream's tools again; tools still listed keep their ids."""
        gateway = (await self.get(gateway_id)).gateway
        try:
            found = await discover(self._http, gateway.url, timeout_s=self._timeout_s)
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
            if await replace_tools(s, gateway_id, found.definitions):
                revision = await revision_store.bump(s)
        if revision:
            self._changes.feed.publish(revision)
        return await self.get(gateway_id)

    async def delete(self, gateway_id: str) -> None:
        async with self._changes.change() as s:
            if not await delete_gateway(s, gateway_id):
                raise NotFound(f"no gateway {gateway_id!r}")

    async def get(self, gateway_id: str) -> GatewayDetail:
        async with self._sessions() as s:
            gateway = await get_gateway(s, gateway_id)
            if gateway is None:
                raise NotFound(f"no gateway {gateway_id!r}")
            return GatewayDetail(gateway, await tools_of_gateway(s, gateway_id))

    async def page(self, *, limit: int, offset: int) -> Page[Gateway]:
        async with self._sessions() as s:
            return await list_gateways(s, limit=limit, offset=offset)


def _check_names(gateway_name: str, found: Discovery, *, doing: str) -> None:
    check_lengths(
        (qualified_name(gateway_name, tool) for tool in found.definitions),
        where=f"could not {doing} {gateway_name!r}",
    )
