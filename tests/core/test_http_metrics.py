"""HTTP RED metrics: each request observed once, by its route's template (never a raw
id), method and code, through the same layers `Host` stacks; requests in flight counted."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter
from prometheus_client import REGISTRY
from starlette.routing import Route
from switchboard_core.http.app import RawRoutesFirst, create_app
from switchboard_core.http.edge import RequestIds
from switchboard_core.http.request_metrics import RequestMetrics
from switchboard_testing.readiness import eventually_async

RAW_TEMPLATE = "/servers/{server_id}/mcp"


class Answer:
    """A raw endpoint answering 200, or waiting for `release` first when told to."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        if scope["path_params"]["server_id"] == "slow":
            self.entered.set()
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def build() -> tuple[httpx.AsyncClient, Answer]:
    answer = Answer()
    raw = [Route(RAW_TEMPLATE, answer, methods=["POST"])]
    router = APIRouter()

    @router.get("/tools/{tool_id}")
    async def tool(tool_id: str) -> dict:
        return {"id": tool_id}

    app = create_app(title="measured", routers=[router], routes=raw)
    layers = RequestIds(RequestMetrics(RawRoutesFirst(app, raw)))
    transport = httpx.ASGITransport(app=layers, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t"), answer


def count(route: str, method: str, code: str) -> float:
    labels = {"route": route, "method": method, "code": code}
    return REGISTRY.get_sample_value("switchboard_http_request_duration_seconds_count", labels) or 0.0


def series_routes() -> set[str]:
    return {
        sample.labels["route"]
        for family in REGISTRY.collect()
        if family.name == "switchboard_http_request_duration_seconds"
        for sample in family.samples
        if "route" in sample.labels
    }


async def test_requests_are_observed_by_route_template_method_and_code() -> None:
    keys = [
        (RAW_TEMPLATE, "POST", "200"),
        ("/tools/{tool_id}", "GET", "200"),
        ("/tools/{tool_id}", "DELETE", "405"),
        ("_unmatched", "GET", "404"),
        ("_unmatched", "OTHER", "404"),
    ]
    before = {key: count(*key) for key in keys}
    client, _answer = build()
    async with client:
        assert (await client.post("/servers/3f6e0c1a-raw-id/mcp", content=b"{}")).status_code == 200
        assert (await client.post("/servers/another-raw-id/mcp", content=b"{}")).status_code == 200
        assert (await client.get("/tools/t-123")).status_code == 200
        assert (await client.delete("/tools/t-123")).status_code == 405
        assert (await client.get("/servers/x/nothing-here")).status_code == 404
        assert (await client.request("BREW", "/coffee")).status_code in (404, 405)
    moved = {key: count(*key) - before[key] for key in keys}
    assert moved == {
        (RAW_TEMPLATE, "POST", "200"): 2,
        ("/tools/{tool_id}", "GET", "200"): 1,
        ("/tools/{tool_id}", "DELETE", "405"): 1,
        ("_unmatched", "GET", "404"): 1,
        ("_unmatched", "OTHER", "404"): 1,
    }
    routes = series_routes()
    assert not any("raw-id" in r or "t-123" in r or "nothing-here" in r or "coffee" in r for r in routes), (
        routes
    )


async def test_a_request_being_served_is_in_flight_until_its_answer_ends() -> None:
    gauge = "switchboard_http_requests_in_flight"
    idle = REGISTRY.get_sample_value(gauge)
    client, answer = build()
    async with client:
        slow = asyncio.create_task(client.post("/servers/slow/mcp", content=b"{}"))
        await asyncio.wait_for(answer.entered.wait(), 5)
        assert REGISTRY.get_sample_value(gauge) == idle + 1
        answer.release.set()
        assert (await slow).status_code == 200
    await eventually_async(
        lambda: REGISTRY.get_sample_value(gauge) == idle, within_s=5, what="in flight back"
    )


async def test_a_raw_route_refused_for_a_repeated_header_is_labelled_with_its_template() -> None:
    key = (RAW_TEMPLATE, "POST", "400")
    before = count(*key)
    client, _answer = build()
    twice = [("authorization", "Bearer a"), ("authorization", "Bearer b")]
    async with client:
        response = await client.post("/servers/some-raw-id/mcp", content=b"{}", headers=twice)
    assert response.status_code == 400
    assert count(*key) - before == 1
