"""gRPC RED metrics on a real server and channel: every call served and made is timed
by service, method and the status code the peer saw; a stream once, when it ends."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import REGISTRY
from switchboard.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from switchboard.registry.v1 import registry_pb2, registry_pb2_grpc
from switchboard_core.errors import NotFound
from switchboard_core.grpc import Channels, build_server
from switchboard_testing.readiness import eventually_async

TOKEN = "t" * 32
REGISTRY_SERVICE = "switchboard.registry.v1.RegistryService"


class Catalogs(registry_pb2_grpc.RegistryServiceServicer):
    async def GetCatalog(self, request, context):
        if request.server_id == "missing":
            raise NotFound("no such server")
        return registry_pb2.Catalog(server_id=request.server_id)

    async def WatchCatalog(self, request, context):
        for revision in (1, 2, 3):
            yield registry_pb2.CatalogChange(revision=revision)


class Ingest(metrics_pb2_grpc.MetricsServiceServicer):
    async def Ingest(self, request_iterator, context):
        batches = [batch async for batch in request_iterator]
        return metrics_pb2.IngestSummary(accepted=len(batches))


def count(side: str, service: str, method: str, code: str) -> float:
    value = REGISTRY.get_sample_value(
        f"switchboard_grpc_{side}_handling_seconds_count",
        {"grpc_service": service, "grpc_method": method, "grpc_code": code},
    )
    return value or 0.0


@pytest.fixture
async def stubs():
    server, _health = build_server(TOKEN)
    registry_pb2_grpc.add_RegistryServiceServicer_to_server(Catalogs(), server)
    metrics_pb2_grpc.add_MetricsServiceServicer_to_server(Ingest(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels, strangers = Channels(TOKEN), Channels("s" * 32)
    channel = channels.get(f"127.0.0.1:{port}")
    try:
        yield (
            registry_pb2_grpc.RegistryServiceStub(channel),
            metrics_pb2_grpc.MetricsServiceStub(channel),
            registry_pb2_grpc.RegistryServiceStub(strangers.get(f"127.0.0.1:{port}")),
        )
    finally:
        await channels.close()
        await strangers.close()
        await server.stop(None)


def snapshot(*keys: tuple[str, str, str, str]) -> dict:
    return {key: count(*key) for key in keys}


async def test_unary_calls_are_timed_by_method_and_code_on_both_sides(stubs) -> None:
    registry, _metrics, stranger = stubs
    keys = [
        (side, REGISTRY_SERVICE, "GetCatalog", code)
        for side in ("server", "client")
        for code in ("OK", "NOT_FOUND", "UNAUTHENTICATED")
    ]
    before = snapshot(*keys)
    await registry.GetCatalog(registry_pb2.GetCatalogRequest(server_id="s1"), timeout=5)
    await registry.GetCatalog(registry_pb2.GetCatalogRequest(server_id="s2"), timeout=5)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await registry.GetCatalog(registry_pb2.GetCatalogRequest(server_id="missing"), timeout=5)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError):
        await stranger.GetCatalog(registry_pb2.GetCatalogRequest(server_id="s1"), timeout=5)

    expected = {"OK": 2, "NOT_FOUND": 1, "UNAUTHENTICATED": 1}

    def moved() -> bool:
        return all(count(*key) - before[key] == expected[key[3]] for key in keys)

    await eventually_async(moved, within_s=5, what="gRPC histograms counting each call once")


async def test_a_stream_is_timed_once_when_it_ends(stubs) -> None:
    registry, metrics, _stranger = stubs
    keys = [
        ("server", REGISTRY_SERVICE, "WatchCatalog", "OK"),
        ("client", REGISTRY_SERVICE, "WatchCatalog", "OK"),
        ("server", "switchboard.metrics.v1.MetricsService", "Ingest", "OK"),
        ("client", "switchboard.metrics.v1.MetricsService", "Ingest", "OK"),
    ]
    before = snapshot(*keys)
    changes = [c.revision async for c in registry.WatchCatalog(registry_pb2.WatchCatalogRequest(), timeout=5)]
    assert changes == [1, 2, 3]

    async def batches():
        for _ in range(3):
            yield metrics_pb2.InvocationBatch()

    summary = await metrics.Ingest(batches(), timeout=5)
    assert summary.accepted == 3

    await eventually_async(
        lambda: all(count(*key) - before[key] == 1 for key in keys),
        within_s=5,
        what="each stream counted once",
    )


async def test_a_stream_the_client_cancels_is_timed_as_cancelled_on_the_client(stubs) -> None:
    registry, _metrics, _stranger = stubs
    key = ("client", REGISTRY_SERVICE, "WatchCatalog", "CANCELLED")
    before = count(*key)
    call = registry.WatchCatalog(registry_pb2.WatchCatalogRequest(), timeout=5)
    assert (await call.read()).revision == 1
    call.cancel()
    await eventually_async(lambda: count(*key) - before == 1, within_s=5, what="the cancelled stream counted")
