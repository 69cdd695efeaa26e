"""The registry as a hosted service: its database, its upstream HTTP client, its APIs.

Across replicas: catalog changes travel over the bus (`domain.change_relay`), and the
work on upstreams (scheduled health checks, following their announcements) runs on
the one replica holding the lease `upstreams` (`shared.leader`; always this process
when embedded). A replica losing the lease stops that work; the next to take it starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import grpc
from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute
from switchboard.registry.v1 import registry_pb2_grpc
from switchboard_core.audit_refusals import Refusals
from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.http.refusals import refusals_recorded
from switchboard_core.migrations import StartupPolicy, prepare
from switchboard_core.service import Runtime
from switchboard_core.shared.leader import Leadership
from switchboard_core.shared.runtime import local_shared
from switchboard_mcp.upstream.pool import UpstreamClients, new_http_client

from switchboard_registry.app import build_routers
from switchboard_registry.audit_delivery import AuthAuditLog
from switchboard_registry.domain.audit_outbox import AuditOutbox
from switchboard_registry.domain.change_relay import RECHECK_S, ChangeRelay
from switchboard_registry.domain.changes import CHANNEL
from switchboard_registry.domain.following import UpstreamFollowers
from switchboard_registry.domain.health import HealthSchedule
from switchboard_registry.domain.registry import HealthPolicy, Registry
from switchboard_registry.domain.upstream_access import UpstreamAccess
from switchboard_registry.migrations import MIGRATIONS
from switchboard_registry.rpc import RegistryServicer
from switchboard_registry.settings import RegistrySettings
from switchboard_registry.store import revision as revision_store

# The lease of the replica checking and following upstreams for all.
UPSTREAM_LEASE = "upstreams"


class RegistryService:
    name = "registry"
    grpc_names: Sequence[str] = ("switchboard.registry.v1.RegistryService",)

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self._engine: AsyncEngine | None = None
        self._upstreams: UpstreamAccess | None = None
        self._registry: Registry | None = None
        self._health: HealthSchedule | None = None
        self._followers: UpstreamFollowers | None = None
        self._leadership: Leadership | None = None
        self._background: list[asyncio.Task[None]] = []
        self._outbox: AuditOutbox | None = None
        self._refusals: Refusals | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            raise DependencyUnavailable("the registry service is not started")
        return self._registry

    def _current(self) -> Registry:
        return self.registry

    @property
    def refusals(self) -> Refusals:
        if self._refusals is None:
            raise DependencyUnavailable("the registry service is not started")
        return self._refusals

    def routers(self) -> Sequence[APIRouter]:
        return build_routers(self._current, refusals_recorded(lambda: self.refusals))

    def routes(self) -> Sequence[BaseRoute]:
        return []

    def owned_database(self) -> str | None:
        return self.settings.database_url

    def add_to_grpc(self, server: grpc.aio.Server) -> None:
        registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(self._current), server)

    async def start(self, runtime: Runtime) -> None:
        shared = runtime.shared or local_shared(self.name)
        self._engine = engine = create_engine(self.settings.database_url, service="registry")
        await prepare(self.settings.database_url, MIGRATIONS, StartupPolicy.of(self.settings))
        sessions = sessionmaker(engine)
        await revision_store.ensure(sessions)
        settings = self.settings
        policy = settings.outbound_policy()
        self._upstreams = upstreams = UpstreamAccess(
            UpstreamClients(new_http_client(policy=policy), policy=policy), settings.sealing_keys()
        )
        auth = AuthAuditLog(
            runtime.channel("auth"),
            timeout_s=settings.grpc_timeout_s,
            max_record_bytes=settings.audit_record_max_bytes,
        )
        self._outbox = outbox = AuditOutbox(
            sessions, auth.record, max_record_bytes=settings.audit_record_max_bytes
        )
        self._refusals = Refusals(outbox.keep, service="registry")
        self._registry = registry = Registry.build(
            sessions,
            upstreams,
            discovery_timeout_s=settings.discovery_timeout_s,
            health=HealthPolicy(
                timeout_s=settings.health_timeout_s,
                failures=settings.health_failures,
                concurrency=settings.health_concurrency,
            ),
            bus=shared.bus,
            outbox=outbox,
        )
        outbox.start()
        self._health = HealthSchedule(registry.health, interval_s=settings.health_interval_s)
        self._followers = UpstreamFollowers(
            sessions,
            registry.changes.feed,
            registry.gateways,
            upstreams,
            timeout_s=settings.discovery_timeout_s,
            debounce_s=settings.list_changed_debounce_s,
            no_stream_retry_s=settings.event_stream_retry_s,
            recheck_s=settings.health_interval_s,
            concurrency=settings.health_concurrency,
        )
        self._leadership = shared.leadership
        # Subscribed before any WatchCatalog stream can open here: none misses a change.
        changes_elsewhere = await shared.bus.subscribe(CHANNEL)
        self._background = [
            asyncio.create_task(
                ChangeRelay(registry.changes, recheck_s=RECHECK_S if shared.redis is not None else None).run(
                    changes_elsewhere
                ),
                name="catalog change relay",
            ),
            asyncio.create_task(
                shared.leadership.run_while_leader(UPSTREAM_LEASE, self._tend_upstreams),
                name="registry upstream work",
            ),
        ]

    async def _tend_upstreams(self) -> None:
        """The leader's job, until it is cancelled: scheduled checks and the followers."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.health_schedule.run(), name="registry health checks")
            group.create_task(self.followers.run(), name="following upstreams")

    @property
    def leading(self) -> bool:
        """Whether this replica does the work on upstreams now."""
        return self._leadership is not None and self._leadership.holds(UPSTREAM_LEASE)

    @property
    def health_schedule(self) -> HealthSchedule:
        if self._health is None:
            raise DependencyUnavailable("the registry service is not started")
        return self._health

    @property
    def followers(self) -> UpstreamFollowers:
        if self._followers is None:
            raise DependencyUnavailable("the registry service is not started")
        return self._followers

    async def drain(self) -> None:
        await self._stop_upstream_work()
        # Open WatchCatalog streams end now rather than at the end of the grace period.
        if self._registry is not None:
            self._registry.changes.feed.close()

    async def stop(self) -> None:
        await self._stop_upstream_work()
        if self._outbox is not None:
            await self._outbox.close()
            self._outbox = None
        if self._registry is not None:
            await self._registry.health.close()
        self._registry = None
        if self._upstreams is not None:
            await self._upstreams.close()
            self._upstreams = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _stop_upstream_work(self) -> None:
        """Stop the background work: the relay, and the work on upstreams (giving up the lease)."""
        background, self._background = self._background, []
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
