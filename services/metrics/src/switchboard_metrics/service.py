"""The metrics service as a host runs it: ingest over gRPC, queries over HTTP, and the
leader's periodic jobs (retention, hourly rollups)."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from fastapi import APIRouter
from opentelemetry import trace
from starlette.routing import BaseRoute
from switchboard.metrics.v1 import metrics_pb2_grpc
from switchboard_core.migrations import StartupPolicy
from switchboard_core.service import Runtime

from switchboard_metrics.app import build_router
from switchboard_metrics.catalog_access import RegistryAccess
from switchboard_metrics.domain.ingest import Ingestor
from switchboard_metrics.domain.retention import PRUNE_INTERVAL_S, RetentionPruner
from switchboard_metrics.domain.rollups import HourlyRollups, RollupReader
from switchboard_metrics.domain.stats import StatsReader
from switchboard_metrics.domain.visibility import Visibility
from switchboard_metrics.rpc import MetricsServicer
from switchboard_metrics.settings import MetricsSettings
from switchboard_metrics.store import InvocationStore, RollupStore
from switchboard_metrics.tracing import CallSpans


class MetricsService:
    name = "metrics"
    grpc_names: Sequence[str] = ("switchboard.metrics.v1.MetricsService",)

    def __init__(
        self,
        settings: MetricsSettings,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        prune_interval_s: float = PRUNE_INTERVAL_S,
    ) -> None:
        self.settings = settings
        # Wired now, opened in start(): the host adds servicers and routers before starting.
        self.store = InvocationStore(settings.database_url, StartupPolicy.of(settings))
        self.ingestor = Ingestor(self.store)
        self.pruner = RetentionPruner(
            self.store, retention_days=settings.metrics_retention_days, interval_s=prune_interval_s
        )
        self.rollup_store = RollupStore(self.store)
        self.rollups = HourlyRollups(
            self.rollup_store,
            records_retention_days=settings.metrics_retention_days,
            rollup_retention_days=settings.metrics_rollup_retention_days,
            interval_s=settings.metrics_rollup_interval_s,
        )
        # Made in start(), with the channel to the registry.
        self.access: RegistryAccess | None = None
        self.reader: StatsReader
        self.rollup_reader: RollupReader
        self._servicer = MetricsServicer(self.ingestor, CallSpans(tracer_provider))

    def routers(self) -> Sequence[APIRouter]:
        return [build_router(self.reader, self.rollup_reader)]

    def routes(self) -> Sequence[BaseRoute]:
        return []

    def owned_database(self) -> str | None:
        return self.settings.database_url

    def add_to_grpc(self, server: grpc.aio.Server) -> None:
        metrics_pb2_grpc.add_MetricsServiceServicer_to_server(self._servicer, server)

    async def start(self, runtime: Runtime) -> None:
        await self.store.open()
        # Queries show each caller what the registry's catalog lets it see.
        access = RegistryAccess(runtime.channel("registry"), timeout_s=self.settings.grpc_timeout_s)
        visibility = Visibility(access)
        self.reader = StatsReader(self.store, visibility)
        self.rollup_reader = RollupReader(self.rollup_store, visibility)
        access.start_watching()
        self.access = access
        # Embedded (no shared parts): this process always leads.
        leadership = runtime.shared.leadership if runtime.shared is not None else None
        self.pruner.start(leadership)
        self.rollups.start(leadership)

    async def drain(self) -> None:
        """Nothing buffered here: each batch is stored as it arrives."""

    async def stop(self) -> None:
        if self.access is not None:
            await self.access.close()
        await self.pruner.stop()
        await self.rollups.stop()
        await self.store.close()
