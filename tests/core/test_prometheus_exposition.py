"""The scrape: `/internal/metrics` answers any peer with the process's registry in the
text format Prometheus checks (`promtool check metrics`), or OpenMetrics when asked, and
exports what `counters` counts without exporting the gRPC counters twice."""

from __future__ import annotations

import asyncio
from asyncio.subprocess import PIPE, STDOUT

import httpx
from fastapi import APIRouter
from prometheus_client.parser import text_string_to_metric_families
from switchboard_core.counters import COUNTERS
from switchboard_core.http.app import create_app
from switchboard_core.http.edge import RequestIds

# An address of another host, as a scraper's would be.
SCRAPER = ("198.51.100.7", 41234)


def client_from(peer: tuple[str, int]) -> httpx.AsyncClient:
    app = RequestIds(create_app(title="scraped", routers=[APIRouter()]))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=peer), base_url="http://t")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_a_scraper_on_another_host_gets_metrics_while_the_counters_stay_local() -> None:
    async with client_from(SCRAPER) as client:
        metrics = await client.get("/internal/metrics")
        relayed = await client.get("/internal/metrics", headers={"X-Forwarded-For": "203.0.113.1"})
        counters = await client.get("/internal/counters")
    assert metrics.status_code == relayed.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "switchboard_build_info" in metrics.text
    assert counters.status_code == 403


async def test_the_metrics_route_is_not_in_the_api_document() -> None:
    async with client_from(SCRAPER) as client:
        document = (await client.get("/openapi.json")).json()
    assert "/internal/metrics" not in document["paths"]
    assert "/healthz" not in document["paths"]


async def test_openmetrics_is_answered_to_a_scraper_asking_for_it() -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    async with client_from(SCRAPER) as client:
        response = await client.get("/internal/metrics", headers={"Accept": accept})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


async def test_the_counters_are_exported_as_prometheus_counters_and_grpc_ones_are_not() -> None:
    async with client_from(SCRAPER) as client:
        before = samples((await client.get("/internal/metrics")).text)
        COUNTERS.add("cache.principals.hits", 3)
        COUNTERS.add("cache.principals.misses")
        COUNTERS.add("cache.catalog.shared_hits", 2)
        COUNTERS.add("sql.queries", 5)
        COUNTERS.add("redis.commands", 7)
        COUNTERS.add("grpc.calls")
        COUNTERS.add("grpc.served")
        text = (await client.get("/internal/metrics")).text
    after = samples(text)

    def moved(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert moved("switchboard_cache_requests_total", cache="principals", result="hit") == 3
    assert moved("switchboard_cache_requests_total", cache="principals", result="miss") == 1
    assert moved("switchboard_cache_requests_total", cache="catalog", result="shared_hit") == 2
    assert moved("switchboard_sql_statements_total") == 5
    assert moved("switchboard_redis_commands_total") == 7
    assert "grpc_calls" not in text and "grpc_served" not in text
    assert after[("switchboard_build_info", (("version", "0.1.0"),))] == 1


async def test_the_exposition_passes_promtool() -> None:
    COUNTERS.add("cache.views.hits")
    async with client_from(SCRAPER) as client:
        await client.get("/healthz")
        await client.get("/no/such/path")
        text = (await client.get("/internal/metrics")).text
    promtool = await asyncio.create_subprocess_exec(
        "promtool", "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=STDOUT
    )
    output, _ = await asyncio.wait_for(promtool.communicate(text.encode()), 30)
    assert promtool.returncode == 0, output.decode()
