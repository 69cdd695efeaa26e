"""The registry as a hosted service: its database, its upstream HTTP client, its APIs."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute
from switchboard.registry.v1 import registry_pb2_grpc
from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.migrations import StartupPolicy, prepare
from switchboard_core.service import Runtime
from switchboard_mcp.upstream.pool import HttpClient, new_http_client

from switchboard_registry.app import build_routers
from switchboard_registry.domain.following import UpstreamFollowers
from switchboard_registry.domain.health import EveryProcessChecks, HealthSchedule
from switchboard_registry.domain.registry import HealthPolicy, Registry
from switchboard_registry.migrations import MIGRATIONS
from switchboard_registry.rpc import RegistryServicer
from switchboard_registry.settings import RegistrySettings
from switchboard_registry.store import revision as revision_store


class RegistryService:
    name = "registry"
    grpc_names: Sequence[str] = ("switchboard.registry.v1.RegistryService",)

    def __init__(self, settings: RegistrySettings) -> None:
        self.settings = settings
        self._engine: AsyncEngine | None = None
        self._http: HttpClient | None = None
        self._registry: Registry | None = None
        self._health: HealthSchedule | None = None
        self._followers: UpstreamFollowers | None = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            raise DependencyUnavailable("the registry service is not started")
        return self._registry

    def _current(self) -> Registry:
        return self.registry

    def routers(self) -> Sequence[APIRouter]:
        return build_routers(self._current)

    def routes(self) -> Sequence[BaseRoute]:
        return []

    def add_to_grpc(self, server: grpc.aio.Server) -> None:
        registry_pb2_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(self._current), server)

    async def start(self, runtime: Runtime) -> None:
        self._engine = engine = create_engine(self.settings.database_url)
        await prepare(self.settings.database_url, MIGRATIONS, StartupPolicy.of(self.settings))
        sessions = sessionmaker(engine)
        await revision_store.ensure(sessions)
        self._http = new_http_client()
        settings = self.settings
        self._registry = registry = Registry.build(
            sessions,
            self._http,
            discovery_timeout_s=settings.discovery_timeout_s,
            health=HealthPolicy(
                timeout_s=settings.health_timeout_s,
                failures=settings.health_failures,
                concurrency=settings.health_concurrency,
            ),
        )
        # Whose turn it is to check and follow upstreams (every process's, until leader election).
        turn = EveryProcessChecks()
        self._health = HealthSchedule(registry.health, interval_s=settings.health_interval_s, turn=turn)
        self._health.start()
        self._followers = UpstreamFollowers(
            sessions,
            registry.changes.feed,
            registry.gateways,
            self._http,
            timeout_s=settings.discovery_timeout_s,
            debounce_s=settings.list_changed_debounce_s,
            no_stream_retry_s=settings.event_stream_retry_s,
            recheck_s=settings.health_interval_s,
            concurrency=settings.health_concurrency,
            turn=turn,
        )
        self._followers.start()

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
        if self._registry is not None:
            await self._registry.health.close()
        self._registry = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _stop_upstream_work(self) -> None:
        """Stop the background work on upstreams: scheduled checks and followers."""
        if self._health is not None:
            await self._health.stop()
            self._health = None
        if self._followers is not None:
            await self._followers.stop()
            self._followers = None
