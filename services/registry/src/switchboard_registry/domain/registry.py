"""The registry's parts, wired together once at service start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_mcp.upstream import HttpClient

from switchboard_registry.domain.catalog import CatalogReader
from switchboard_registry.domain.changes import ChangeFeed, Changes
from switchboard_registry.domain.gateways import Gateways
from switchboard_registry.domain.servers import Servers


@dataclass(frozen=True, slots=True)
class Registry:
    gateways: Gateways
    servers: Servers
    catalog: CatalogReader
    changes: Changes

    @classmethod
    def build(cls, sessions: async_sessionmaker, http: HttpClient, *, discovery_timeout_s: float) -> Registry:
        changes = Changes(sessions, ChangeFeed())
        return cls(
            gateways=Gateways(sessions, changes, http, timeout_s=discovery_timeout_s),
            servers=Servers(sessions, changes),
            catalog=CatalogReader(sessions),
            changes=changes,
        )
