"""A REST request is a server span named by its route template, joined to the trace it
came with and carrying the request id the response returns."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.responses import Response
from starlette.routing import Route
from switchboard_core.errors import NotFound
from switchboard_core.http.app import RawRoutesFirst, create_app
from switchboard_core.http.edge import RequestIds
from switchboard_core.tracing.http_spans import ServerSpans

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def _router() -> APIRouter:
    router = APIRouter()

    @router.post("/gateways/{gateway_id}/tools", status_code=201)
    async def add(gateway_id: str) -> dict:
        return {"gateway": gateway_id}

    @router.get("/gateways/{gateway_id}")
    async def missing(gateway_id: str) -> dict:
        raise NotFound(f"no gateway {gateway_id}")

    return router


class RawEndpoint:
    async def __call__(self, scope, receive, send) -> None:
        await Response(b"raw", status_code=200)(scope, receive, send)


@pytest.fixture
def traced() -> Iterator[tuple[httpx.AsyncClient, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    raw = [Route("/mcp", RawEndpoint(), methods=["POST"])]
    app = create_app(title="traced", routers=[_router()], routes=raw)
    app.add_middleware(ServerSpans, tracer_provider=provider)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=RequestIds(RawRoutesFirst(app, raw))), base_url="http://t"
    )
    yield client, exporter
    provider.shutdown()


async def test_a_rest_request_is_a_span_named_by_its_route_in_the_trace_it_came_with(traced) -> None:
    client, exporter = traced
    async with client:
        response = await client.post(
            "/gateways/g-17/tools",
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "x-request-id": "req-abc.1"},
        )
    assert response.status_code == 201 and response.headers["x-request-id"] == "req-abc.1"
    [span] = exporter.get_finished_spans()
    assert span.name == "POST /gateways/{gateway_id}/tools"
    assert f"{span.context.trace_id:032x}" == TRACE_ID
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT_ID
    assert dict(span.attributes) == {
        "http.request.method": "POST",
        "http.route": "/gateways/{gateway_id}/tools",
        "http.response.status_code": 201,
        "switchboard.request_id": "req-abc.1",
    }


async def test_a_request_without_context_starts_a_trace_carrying_the_id_it_was_given(traced) -> None:
    client, exporter = traced
    async with client:
        response = await client.get("/gateways/g-17")
    assert response.status_code == 404
    [span] = exporter.get_finished_spans()
    assert span.parent is None
    assert span.name == "GET /gateways/{gateway_id}"
    assert span.attributes["switchboard.request_id"] == response.headers["x-request-id"]
    assert span.attributes["http.response.status_code"] == 404


async def test_an_unknown_path_is_a_span_named_by_its_method_alone(traced) -> None:
    client, exporter = traced
    async with client:
        assert (await client.get("/no/such/path/secret-looking-123")).status_code == 404
    [span] = exporter.get_finished_spans()
    assert span.name == "GET" and "http.route" not in span.attributes


async def test_the_raw_mcp_routes_make_no_rest_span(traced) -> None:
    client, exporter = traced
    async with client:
        assert (await client.post("/mcp", content=b"{}")).status_code == 200
    assert exporter.get_finished_spans() == ()


def test_an_untraced_app_has_no_span_middleware() -> None:
    app = create_app(title="untraced", routers=[_router()])
    assert all(middleware.cls is not ServerSpans for middleware in app.user_middleware)
