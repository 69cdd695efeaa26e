"""Raw (hot-path) routes: served before FastAPI, and an endpoint's unforeseen failure is
logged with its traceback and answered 500, never lost in silence."""

from __future__ import annotations

import logging

import httpx
from starlette.routing import Route
from switchboard_core.http.app import RawRoutesFirst, create_app


class Broken:
    """A plain ASGI endpoint, as the MCP endpoints are, with a bug."""

    async def __call__(self, scope, receive, send) -> None:
        raise RuntimeError("a bug in an endpoint")


class Fine:
    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _client(*routes: Route) -> httpx.AsyncClient:
    app = RawRoutesFirst(create_app(title="raw routes", routers=[], routes=list(routes)), list(routes))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    )


async def test_an_endpoint_that_raises_is_logged_and_answered_500(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="switchboard_core.http.app")
    async with _client(Route("/mcp", Broken(), methods=["POST"])) as client:
        response = await client.post("/mcp", content=b"{}")
    assert response.status_code == 500
    assert response.json()["error"] == {"code": -32603, "message": "Internal error"}
    (record,) = [r for r in caplog.records if r.name == "switchboard_core.http.app"]
    assert record.getMessage() == "POST /mcp failed"
    assert "a bug in an endpoint" in str(record.exc_info[1])


async def test_an_endpoint_answering_itself_is_passed_through(caplog) -> None:
    async with _client(Route("/mcp", Fine(), methods=["POST"])) as client:
        response = await client.post("/mcp", content=b"{}")
    assert response.status_code == 202
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_repeated_authorization_is_refused_before_any_route_in_each_faces_words() -> None:
    twice = [("authorization", "Bearer a"), ("authorization", "Bearer b")]
    async with _client(Route("/mcp", Fine(), methods=["POST"])) as client:
        raw = await client.post("/mcp", content=b"{}", headers=twice)
        rest = await client.get("/healthz", headers=twice)
    message = "the authorization header appears more than once"
    assert raw.status_code == rest.status_code == 400
    assert raw.json() == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
    assert rest.json() == {"error": "InvalidInput", "detail": message}
    assert (
        raw.headers["www-authenticate"]
        == rest.headers["www-authenticate"]
        == 'Bearer error="invalid_request"'
    )


async def test_headers_that_may_repeat_pass() -> None:
    async with _client(Route("/mcp", Fine(), methods=["POST"])) as client:
        response = await client.post("/mcp", content=b"{}", headers=[("accept", "a/b"), ("accept", "c/d")])
    assert response.status_code == 202
