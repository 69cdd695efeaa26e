"""Fixtures for the metrics service: a store on a fresh database, the service behind a
real gRPC server, and a client channel to it.

Every test on a database runs twice: on SQLite, and on Postgres through PgBouncer
(the plugin's `database_url`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from switchboard_core.grpc import Channels, build_server
from switchboard_core.service import Runtime
from switchboard_metrics.service import MetricsService
from switchboard_metrics.settings import MetricsSettings
from switchboard_metrics.store import InvocationStore
from switchboard_testing.internal import INTERNAL_TOKEN


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[InvocationStore]:
    opened = InvocationStore(database_url)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> MetricsSettings:
    # The records these tests write are dated 2023: the service's own retention and
    # rollup passes, which run at start, must not race them, or their rollups, away.
    return MetricsSettings(
        data_dir=tmp_path,
        metrics_database_url=database_url,
        metrics_retention_days=36_500,
        metrics_rollup_retention_days=36_500,
    )


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def service(settings: MetricsSettings, spans: InMemorySpanExporter) -> AsyncIterator[MetricsService]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    running = MetricsService(settings, tracer_provider=provider)
    await running.start(Runtime(settings))
    yield running
    await running.stop()
    provider.shutdown()


@pytest.fixture
async def channel(service: MetricsService) -> AsyncIterator[grpc.aio.Channel]:
    """A client channel to the service behind a real gRPC server on loopback."""
    server, _health = build_server(INTERNAL_TOKEN)
    service.add_to_grpc(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels = Channels(INTERNAL_TOKEN)
    yield channels.get(f"127.0.0.1:{port}")
    await channels.close()
    await server.stop(None)
