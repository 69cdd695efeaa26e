"""The access log: one line per request saying what was asked and answered, never the
query string, with the request id and the client as the forwarded-for rules see it; and
when it is off, nothing of it in a request's path."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import APIRouter
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from switchboard_core.http.app import RawRoutesFirst, create_app
from switchboard_core.http.edge import RequestIds
from switchboard_core.http.forwarded import ProxyTrust
from switchboard_core.logs.access import AccessLog, with_access_log


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/gateways/{gateway_id}")
    async def gateway(gateway_id: str) -> dict:
        return {"id": gateway_id}

    return router


async def _raw(request) -> PlainTextResponse:
    return PlainTextResponse("pong")


def _client(*, trusted: list[str] | None = None, client: tuple[str, int] = ("10.0.0.9", 5000)):
    raw = [Route("/servers/{server_id}/mcp", _raw, methods=["POST"])]
    app = create_app(title="t", routers=[_router()], routes=raw)
    served = with_access_log(RawRoutesFirst(app, raw), enabled=True, trust=ProxyTrust(trusted or []))
    transport = httpx.ASGITransport(app=RequestIds(served), client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


def _access(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "switchboard.access"]


async def test_one_line_per_request_names_the_route_status_duration_bytes_and_request_id(caplog) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.access")
    async with _client() as client:
        answer = await client.get("/gateways/g-42", headers={"x-request-id": "abc-1"})
    (line,) = _access(caplog)
    assert line.route == "/gateways/{gateway_id}" and line.method == "GET" and line.status == 200
    assert line.bytes == len(answer.content) and 0 < line.duration_s < 5
    assert line.client == "10.0.0.9"
    assert line.getMessage().startswith("GET /gateways/{gateway_id} 200 ")
    assert answer.headers["x-request-id"] == "abc-1"


async def test_a_raw_mcp_route_is_logged_by_its_template(caplog) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.access")
    async with _client() as client:
        await client.post("/servers/s-1/mcp", content=b"{}")
    (line,) = _access(caplog)
    assert line.route == "/servers/{server_id}/mcp" and line.status == 200 and line.bytes == 4


async def test_the_query_string_is_never_logged(caplog) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.access")
    async with _client() as client:
        await client.get("/gateways/g-1", params={"access_token": "tok-in-query-7f3a"})
        await client.get("/no/such/path", params={"api_key": "key-in-query-9c2b"})
    lines = _access(caplog)
    assert [r.status for r in lines] == [422, 404]  # an unknown parameter is refused, and not logged
    assert lines[1].route == "/no/such/path"
    text = " ".join(f"{r.getMessage()} {r.__dict__}" for r in lines)
    assert "tok-in-query-7f3a" not in text and "key-in-query-9c2b" not in text


async def test_the_client_is_read_from_x_forwarded_for_only_behind_a_trusted_proxy(caplog) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.access")
    spoofed = {"x-forwarded-for": "203.0.113.7"}
    async with _client(trusted=["10.0.0.9"]) as behind_nginx:
        await behind_nginx.get("/gateways/g", headers=spoofed)
    async with _client(trusted=[]) as direct:
        await direct.get("/gateways/g", headers=spoofed)
    assert [r.client for r in _access(caplog)] == ["203.0.113.7", "10.0.0.9"]


def test_when_off_nothing_stands_between_the_request_and_the_app() -> None:
    app = create_app(title="t", routers=[_router()])
    inner = RawRoutesFirst(app, [])
    assert with_access_log(inner, enabled=False, trust=ProxyTrust([])) is inner
    assert isinstance(with_access_log(inner, enabled=True, trust=ProxyTrust([])), AccessLog)


@pytest.mark.parametrize("level", ["warning", "error"])
async def test_the_access_log_writes_at_info_whatever_the_level_asked(level: str) -> None:
    from switchboard_core.logs import configure_logging

    root = logging.getLogger()
    handlers, before = list(root.handlers), root.level
    access = logging.getLogger("switchboard.access")
    try:
        configure_logging(level=level, log_format="json", service="t", replica="r", access_log=True)
        assert access.isEnabledFor(logging.INFO)
        assert not logging.getLogger("switchboard_auth").isEnabledFor(logging.INFO)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(before)
        access.setLevel(logging.NOTSET)
        logging.captureWarnings(False)


async def test_the_line_carries_the_trace_of_the_span_the_answer_began_in(caplog) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    caplog.set_level(logging.INFO, logger="switchboard.access")
    tracer = TracerProvider().get_tracer("test")
    spans = []

    async def traced(scope, receive, send) -> None:
        with tracer.start_as_current_span("POST /mcp") as span:
            spans.append(span.get_span_context())
            await PlainTextResponse("ok")(scope, receive, send)

    served = with_access_log(traced, enabled=True, trust=ProxyTrust([]))
    transport = httpx.ASGITransport(app=RequestIds(served))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.post("/mcp")
    (line,) = _access(caplog)
    assert line.trace_id == format(spans[0].trace_id, "032x")
    assert line.span_id == format(spans[0].span_id, "016x")


async def test_a_request_nothing_answered_is_logged_500_when_it_failed_499_when_the_client_left(
    caplog,
) -> None:
    caplog.set_level(logging.INFO, logger="switchboard.access")
    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "client": ("10.0.0.1", 1)}

    async def receive() -> dict:
        return {"type": "http.disconnect"}

    async def send(message) -> None:
        pass

    async def broken(scope, receive, send) -> None:
        raise RuntimeError("a bug")

    async def abandoned(scope, receive, send) -> None:
        await receive()  # the client went away before an answer began

    with pytest.raises(RuntimeError):
        await with_access_log(broken, enabled=True, trust=ProxyTrust([]))(dict(scope), receive, send)
    await with_access_log(abandoned, enabled=True, trust=ProxyTrust([]))(dict(scope), receive, send)
    assert [r.status for r in _access(caplog)] == [500, 499]
