"""The registry's parts, wired together once at service start."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.shared.bus import Bus

from switchboard_registry.domain.audit_outbox import AuditOutbox
from switchboard_registry.domain.catalog import CatalogReader
from switchboard_registry.domain.changes import ChangeFeed, Changes
from switchboard_registry.domain.gateways import Gateways
from switchboard_registry.domain.health import HealthChecker
from switchboard_registry.domain.servers import Servers
from switchboard_registry.domain.upstream_access import UpstreamAccess


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    """How upstreams are checked (see `health`)."""

    timeout_s: float = 3.0
    failures: int = 2
    concurrency: int = 32


@dataclass(frozen=True, slots=True)
class Registry:
    gateways: Gateways
    servers: Servers
    catalog: CatalogReader
    changes: Changes
    health: HealthChecker
    upstreams: UpstreamAccess

    @classmethod
    def build(
        cls,
        sessions: async_sessionmaker,
        upstreams: UpstreamAccess,
        *,
        discovery_timeout_s: float,
        health: HealthPolicy | None = None,
        bus: Bus | None = None,
        outbox: AuditOutbox | None = None,
    ) -> Registry:
        """`bus` carries changes to other replicas (None: this process is the only one);
        `outbox` takes the audit records of administrators' changes (None: none kept)."""
        health = health or HealthPolicy()
        changes = Changes(sessions, ChangeFeed(), bus, outbox)
        gateways = Gateways(sessions, changes, upstreams, timeout_s=discovery_timeout_s)
        return cls(
            gateways=gateways,
            servers=Servers(sessions, changes),
            catalog=CatalogReader(sessions),
            changes=changes,
            health=HealthChecker(
                sessions,
                changes,
                gateways,
                upstreams,
                timeout_s=health.timeout_s,
                failures=health.failures,
                concurrency=health.concurrency,
            ),
            upstreams=upstreams,
        )
