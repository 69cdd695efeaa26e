"""Upstream health: a failing upstream's items leave every catalog, and come back with it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from switchboard.registry.v1 import registry_pb2
from switchboard_core.principals import Principal
from switchboard_core.service import Runtime
from switchboard_registry import RegistryService, RegistrySettings
from switchboard_registry.domain.registry import Registry
from switchboard_testing.outbound import OUTBOUND_ALLOW

BY = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40, personal_team_id="team-admin")
FAILURES = 3
TIMEOUT_S = 0.5


@contextlib.asynccontextmanager
async def _started(tmp_path: Path, database_url: str, **health: float) -> AsyncIterator[RegistryService]:
    settings = RegistrySettings(
        data_dir=tmp_path,
        registry_database_url=database_url,
        discovery_timeout_s=5.0,
        outbound_allow=OUTBOUND_ALLOW.split(","),
        health_timeout_s=TIMEOUT_S,
        health_failures=FAILURES,
        **health,
    )
    service = RegistryService(settings)
    await service.start(Runtime(settings))
    try:
        yield service
    finally:
        await service.drain()
        await service.stop()


@pytest.fixture
async def registry_service(tmp_path: Path, database_url: str) -> AsyncIterator[RegistryService]:
    """A registry whose scheduled checks never come round: the tests run each check themselves."""
    async with _started(tmp_path, database_url, health_interval_s=3600) as service:
        yield service


@pytest.fixture
async def checking_registry(tmp_path: Path, database_url: str) -> AsyncIterator[Registry]:
    """A registry checking its upstreams on its own, every 50 ms."""
    async with _started(tmp_path, database_url, health_interval_s=0.05) as service:
        yield service.registry


@contextlib.asynccontextmanager
async def _hanging(port: int) -> AsyncIterator[None]:
    """A TCP server on `port` that accepts connections and never answers."""
    connections: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", port, reuse_address=True)
    try:
        yield
    finally:
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()


def _tool_names(catalog: registry_pb2.Catalog) -> list[str]:
    return [t.name for t in catalog.tools]


@pytest.fixture
async def federated(registry: Registry, alpha, restartable_upstream) -> str:
    """Gateways `alpha` and `flaky`, and a server `both` including them whole; its id."""
    await registry.gateways.register("alpha", alpha.url, by=BY)
    await registry.gateways.register("flaky", restartable_upstream.url, by=BY)
    server = await registry.servers.create("both", gateways=["alpha", "flaky"], by=BY)
    return server.server.id


async def _gateway(registry: Registry, name: str):
    page = await registry.gateways.page(by=BY, limit=50, offset=0)
    return next(g for g in page.items if g.name == name)


async def test_a_stopped_upstream_leaves_the_catalogs_after_n_failed_checks_and_returns_with_its_upstream(
    registry: Registry, federated: str, restartable_upstream, registry_stub
):
    server_request = registry_pb2.GetCatalogRequest(server_id=federated)
    everything_request = registry_pb2.GetCatalogRequest()
    before = await registry_stub.GetCatalog(server_request)
    assert "flaky__echo" in _tool_names(before)

    restartable_upstream.stop()
    for _ in range(FAILURES - 1):
        await registry.health.check_all()
    assert (await registry_stub.GetCatalog(server_request)).revision == before.revision
    await registry.health.check_all()

    server_catalog = await registry_stub.GetCatalog(server_request)
    everything = await registry_stub.GetCatalog(everything_request)
    assert server_catalog.revision > before.revision
    assert _tool_names(server_catalog) == [t for t in _tool_names(before) if t.startswith("alpha__")]
    assert len(_tool_names(server_catalog)) == 3
    assert not [t for t in _tool_names(everything) if t.startswith("flaky__")]
    for catalog in (server_catalog, everything):
        assert {u.name for u in catalog.upstreams} == {"alpha"}
        assert [p.name for p in catalog.prompts] == ["alpha__greet"]
        assert [r.uri for r in catalog.resources] == ["memo://alpha/readme"]
        assert [r.uri for r in catalog.resource_templates] == ["memo://alpha/notes/{topic}"]
    held_back = [t for t in _tool_names(before) if t.startswith("flaky__")]
    held = server_catalog.held_tools
    assert held_back and {name: held[name].gateway_name for name in held} == dict.fromkeys(held_back, "flaky")
    # Each with its access, for the proxy to decide who may hear that it is held back.
    assert {(held[name].access.visibility, bool(held[name].access.team_id)) for name in held} == {
        ("team", True)
    }
    flaky = await _gateway(registry, "flaky")
    assert flaky.status == "unavailable"
    assert restartable_upstream.url in (flaky.last_error or "")

    restartable_upstream.start()
    await registry.health.check_all()

    back = await registry_stub.GetCatalog(server_request)
    assert back.revision > server_catalog.revision
    assert _tool_names(back) == _tool_names(before)
    assert [t.tool_id for t in back.tools] == [t.tool_id for t in before.tools]
    assert (await _gateway(registry, "flaky")).status == "available"
    assert not back.held_tools


async def test_watchers_hear_when_a_gateway_goes_and_comes_back(
    registry: Registry, federated: str, restartable_upstream
):
    watch = registry.changes.watch()
    start = await anext(watch)

    restartable_upstream.stop()
    for _ in range(FAILURES):
        await registry.health.check_all()
    async with asyncio.timeout(5):
        gone = await anext(watch)
    restartable_upstream.start()
    await registry.health.check_all()
    async with asyncio.timeout(5):
        back = await anext(watch)

    assert start < gone < back
    await watch.aclose()


async def test_checks_that_change_no_status_write_nothing(
    registry: Registry, federated: str, restartable_upstream
):
    start = await registry.changes.current()
    for _ in range(3):
        await registry.health.check_all()
    assert await registry.changes.current() == start

    restartable_upstream.stop()
    for _ in range(FAILURES):
        await registry.health.check_all()
    down = await registry.changes.current()
    assert down == start + 1
    for _ in range(3):
        await registry.health.check_all()
    assert await registry.changes.current() == down


async def test_a_hanging_upstream_is_found_out_by_the_deadline_without_holding_up_the_others(
    checking_registry: Registry, alpha, restartable_upstream
):
    registry = checking_registry
    await registry.gateways.register("alpha", alpha.url, by=BY)
    await registry.gateways.register("flaky", restartable_upstream.url, by=BY)
    watch = registry.changes.watch()
    await anext(watch)
    restartable_upstream.stop()

    async with _hanging(restartable_upstream.port):
        started = time.monotonic()
        async with asyncio.timeout(FAILURES * (TIMEOUT_S + 1) + 5):
            await anext(watch)  # the only change to come: flaky's status
        took = time.monotonic() - started
        flaky = await _gateway(registry, "flaky")
        round_started = time.monotonic()
        await registry.health.check_all()
        one_round = time.monotonic() - round_started

    await watch.aclose()
    assert flaky.status == "unavailable"
    assert took < FAILURES * (TIMEOUT_S + 0.5) + 1
    assert "did not answer" in (flaky.last_error or "") or "timed out" in (flaky.last_error or "")
    assert one_round < TIMEOUT_S + 0.5
    assert (await _gateway(registry, "alpha")).status == "available"
    everything = await registry.catalog.catalog()
    assert {b.tool.gateway_name for b in everything.tools} == {"alpha"}


async def test_gateways_show_their_health_and_an_admin_may_check_one_now(
    api: httpx.AsyncClient, alpha, restartable_upstream, registry: Registry
):
    registered = await api.post("/gateways", json={"name": "flaky", "url": restartable_upstream.url})
    assert registered.status_code == 201
    gateway_id = registered.json()["id"]
    assert registered.json()["status"] == "available"
    assert registered.json()["last_error"] is None
    assert registered.json()["last_seen_ok_at"] is not None

    restartable_upstream.stop()
    checked = await api.post(f"/gateways/{gateway_id}/check")

    assert checked.status_code == 200, checked.text
    assert checked.json()["status"] == "unavailable"
    assert restartable_upstream.url in checked.json()["last_error"]
    listed = (await api.get("/gateways")).json()["items"]
    assert [(g["name"], g["status"]) for g in listed] == [("flaky", "unavailable")]
    assert (await registry.catalog.catalog()).tools == []

    restartable_upstream.start()
    checked = await api.post(f"/gateways/{gateway_id}/check")

    assert checked.json()["status"] == "available"
    assert {t["upstream_name"] for t in checked.json()["tools"]} == {"echo", "add", "grow"}
    assert len((await registry.catalog.catalog()).tools) == 3


async def test_only_who_may_change_a_gateway_may_ask_for_a_check(api: httpx.AsyncClient, alpha):
    # Public: the user sees it, but holds no role in its team.
    registered = await api.post("/gateways", json={"name": "alpha", "url": alpha.url, "visibility": "public"})
    gateway_id = registered.json()["id"]

    refused = await api.post(f"/gateways/{gateway_id}/check", headers={"authorization": "Bearer user-token"})
    unknown = await api.post("/gateways/nope/check")

    assert refused.status_code == 403
    assert unknown.status_code == 404
