"""The REST face: signed-in users read per-tool statistics and a summary."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from switchboard_core.errors import Unauthenticated
from switchboard_core.http.app import create_app
from switchboard_core.principals import Principal
from switchboard_metrics.domain.invocations import Invocation
from switchboard_metrics.domain.rollups import HOUR_MS, hour_of
from switchboard_metrics.service import MetricsService

T0 = 1_700_000_000_000
TOKEN = "good-token"


class OneToken:
    """Stands in for the PrincipalCache: one token is valid, an administrator's (what
    others may see is `test_visibility`'s and the access matrix's)."""

    async def authenticate(self, token: str) -> Principal:
        if token != TOKEN:
            raise Unauthenticated("unknown token")
        return Principal("u1", "ann@example.com", True, (), "tok1", T0 // 1000 + 3600)


@pytest.fixture
async def client(service: MetricsService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(title="metrics", routers=service.routers())
    app.state.principals = OneToken()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://metrics", headers={"authorization": f"Bearer {TOKEN}"}
    ) as http:
        yield http


@pytest.fixture
async def recorded(service: MetricsService) -> None:
    await service.store.insert_many(
        [Invocation("echo", server_id="a", duration_ms=float(d), started_at_ms=T0) for d in range(1, 101)]
        + [Invocation("fail", server_id="b", duration_ms=5.0, success=False, started_at_ms=T0, error="x")] * 2
    )


async def test_per_tool_statistics_over_a_window(client: httpx.AsyncClient, recorded: None) -> None:
    response = await client.get("/metrics/tools", params={"since": T0, "until": T0 + 1})

    assert response.status_code == 200
    body = response.json()
    assert body["since"] == T0 and body["until"] == T0 + 1
    assert body["tools"] == [
        {
            "tool": "echo",
            "calls": 100,
            "errors": 0,
            "p50_ms": 50.0,
            "p95_ms": 95.0,
            "p99_ms": 99.0,
            "avg_ms": 50.5,
        },
        {"tool": "fail", "calls": 2, "errors": 2, "p50_ms": 5.0, "p95_ms": 5.0, "p99_ms": 5.0, "avg_ms": 5.0},
    ]


async def test_per_tool_statistics_for_one_server(client: httpx.AsyncClient, recorded: None) -> None:
    response = await client.get("/metrics/tools", params={"server_id": "b", "since": 0, "until": T0})

    assert [row["tool"] for row in response.json()["tools"]] == ["fail"]


async def test_the_summary_totals_every_tool(client: httpx.AsyncClient, recorded: None) -> None:
    response = await client.get("/metrics/summary", params={"since": 0, "until": T0})

    assert response.status_code == 200
    body = response.json()
    assert (body["tools"], body["calls"], body["errors"]) == (2, 102, 2)


async def test_recent_calls_show_up_without_a_window(
    client: httpx.AsyncClient, service: MetricsService
) -> None:
    await service.ingestor.ingest([Invocation("now", duration_ms=3.0)])

    body = (await client.get("/metrics/tools")).json()

    assert [row["tool"] for row in body["tools"]] == ["now"]
    assert body["until"] - body["since"] == 24 * 3600 * 1000


async def test_an_inverted_window_is_a_bad_request(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics/tools", params={"since": 10, "until": 5})

    assert response.status_code == 400
    assert response.json()["error"] == "InvalidInput"


async def test_hourly_rollups_of_a_tool_a_page_at_a_time(
    client: httpx.AsyncClient, service: MetricsService, recorded: None
) -> None:
    hour = hour_of(T0)
    await service.rollup_store.roll_up(hour, hour + HOUR_MS)

    response = await client.get(
        "/metrics/rollups", params={"tool": "echo", "since": hour, "until": hour, "limit": 1}
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["limit"], body["offset"], body["tool"]) == (1, 1, 0, "echo")
    (row,) = body["items"]
    assert (row["hour"], row["tool"], row["server_id"], row["calls"], row["errors"]) == (
        hour,
        "echo",
        "a",
        100,
        0,
    )
    assert (row["min_ms"], row["max_ms"], row["avg_ms"]) == (1.0, 100.0, 50.5)
    assert abs(row["p95_ms"] - 95.0) < 1
    assert len(row["histogram"]) == len(body["bucket_bounds_ms"]) + 1 and sum(row["histogram"]) == 100


async def test_a_rollup_page_of_more_than_500_rows_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics/rollups", params={"limit": 501})

    assert response.status_code == 422


@pytest.mark.parametrize("path", ["/metrics/tools", "/metrics/summary", "/metrics/rollups"])
async def test_reading_metrics_needs_a_valid_token(client: httpx.AsyncClient, path: str) -> None:
    missing = await client.get(path, headers={"authorization": ""})
    wrong = await client.get(path, headers={"authorization": "Bearer nope"})

    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
