"""The edge every request meets: a request id on every response and on every 5xx logged,
and REST input bounded (body size, NUL characters) before the routes see it."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from starlette.routing import Route
from switchboard_core.errors import DependencyUnavailable
from switchboard_core.http.app import RawRoutesFirst, create_app
from switchboard_core.http.edge import InputBounds, RequestIds


class Note(BaseModel):
    text: str


def _router() -> APIRouter:
    router = APIRouter()

    @router.get("/broken")
    async def broken() -> dict:
        raise RuntimeError("a bug in a route")

    @router.get("/down")
    async def down() -> dict:
        raise DependencyUnavailable("registry service: UNAVAILABLE")

    @router.post("/notes")
    async def notes(note: Note) -> dict:
        return {"length": len(note.text)}

    @router.get("/echo")
    async def echo(q: str = "") -> dict:
        return {"q": q}

    return router


class BrokenEndpoint:
    async def __call__(self, scope, receive, send) -> None:
        raise RuntimeError("a bug in an endpoint")


def _client(max_body_bytes: int = 1024) -> httpx.AsyncClient:
    raw = [Route("/mcp", BrokenEndpoint(), methods=["POST"])]
    app = create_app(title="edge", routers=[_router()], routes=raw, max_body_bytes=max_body_bytes)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=RequestIds(RawRoutesFirst(app, raw))), base_url="http://t"
    )


def _failures(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_route_that_raises_is_answered_500_and_logged_once_with_the_request_id_it_carried(
    caplog,
) -> None:
    async with _client() as client:
        response = await client.get("/broken")
    assert response.status_code == 500
    rid = response.headers["x-request-id"]
    assert response.json()["request_id"] == rid
    (record,) = _failures(caplog)
    assert record.getMessage() == f"GET /broken failed (request id {rid})"
    assert "a bug in a route" in str(record.exc_info[1])


async def test_a_raw_endpoint_that_raises_answers_a_json_rpc_error_naming_the_request_id(caplog) -> None:
    async with _client() as client:
        response = await client.post("/mcp", content=b"{}")
    assert response.status_code == 500
    rid = response.headers["x-request-id"]
    assert response.json()["error"]["data"] == {"request_id": rid}
    (record,) = _failures(caplog)
    assert record.getMessage() == f"POST /mcp failed (request id {rid})"


async def test_a_503_from_a_missing_dependency_is_logged_with_the_request_id(caplog) -> None:
    async with _client() as client:
        response = await client.get("/down", headers={"x-request-id": "edge-7"})
    assert response.status_code == 503
    assert response.headers["x-request-id"] == "edge-7"
    assert response.json()["request_id"] == "edge-7"
    (record,) = _failures(caplog)
    assert record.getMessage() == "GET /down failed (request id edge-7)"


async def test_every_response_carries_a_fresh_request_id_unless_the_client_sent_a_sane_one() -> None:
    async with _client() as client:
        first = await client.get("/echo")
        second = await client.get("/echo")
        kept = await client.get("/echo", headers={"x-request-id": "abc-123.4:5_6"})
        odd = await client.get("/echo", headers={"x-request-id": "a b<script>"})
        long = await client.get("/echo", headers={"x-request-id": "a" * 129})
    assert len({first.headers["x-request-id"], second.headers["x-request-id"]}) == 2
    assert kept.headers["x-request-id"] == "abc-123.4:5_6"
    assert odd.headers["x-request-id"] not in ("a b<script>", "")
    assert long.headers["x-request-id"] != "a" * 129


async def test_a_body_over_the_limit_is_413_with_the_error_shape_of_the_app() -> None:
    async with _client(max_body_bytes=1024) as client:
        response = await client.post("/notes", json={"text": "x" * 2000})
        fits = await client.post("/notes", json={"text": "x" * 900})
    assert response.status_code == 413
    assert response.json()["error"] == "TooLarge"
    assert "1024 bytes" in response.json()["detail"]
    assert fits.json() == {"length": 900}


async def test_a_body_over_the_limit_without_content_length_is_413() -> None:
    async def chunks():
        for _ in range(4):
            yield b"x" * 512

    async with _client(max_body_bytes=1024) as client:
        response = await client.post("/notes", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "TooLarge"


@pytest.mark.parametrize(
    ("method", "path", "body", "where"),
    [
        ("POST", "/notes", b'{"text": "a\\u0000b"}', "body"),
        ("GET", "/echo?q=a%00b", None, "query"),
        ("GET", "/echo%00", None, "path"),
    ],
)
async def test_a_nul_character_anywhere_is_422_before_a_route_sees_it(
    method: str, path: str, body: bytes | None, where: str
) -> None:
    async with _client() as client:
        response = await client.request(
            method, path, content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == [where]


async def test_a_nul_escape_split_across_chunks_is_still_refused() -> None:
    async def chunks():
        yield b'{"text": "a\\u'
        yield b"0"
        yield b"0"
        yield b'00b"}'

    async with _client() as client:
        response = await client.post("/notes", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 422


async def _through_bounds(messages: list[dict], *, then_wait_s: float, app_asks_again: bool) -> list[dict]:
    """What `InputBounds` (body timeout 0.2 s) sends for a request whose body comes as
    `messages`, after which the client says nothing for `then_wait_s`; the app reads the
    body, answers, and (when `app_asks_again`) then waits for the client to leave."""
    sent: list[dict] = []
    pending = list(messages)

    async def receive() -> dict:
        if pending:
            return pending.pop(0)
        await asyncio.sleep(then_wait_s)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    async def app(scope, receive, send) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False) and message["type"] == "http.request"
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}", "more_body": app_asks_again})
        if app_asks_again:
            await receive()
            await send({"type": "http.response.body", "body": b""})

    scope = {"type": "http", "method": "POST", "path": "/notes", "headers": [], "query_string": b""}
    await InputBounds(app, body_timeout_s=0.2)(scope, receive, send)
    return sent


async def test_a_body_that_stops_arriving_is_answered_408_at_the_body_timeout() -> None:
    sent = await _through_bounds(
        [{"type": "http.request", "body": b'{"te', "more_body": True}], then_wait_s=5, app_asks_again=False
    )
    assert sent[0]["status"] == 408
    assert b"SWITCHBOARD_HTTP_BODY_TIMEOUT_S" in sent[1]["body"]


async def test_an_app_waiting_past_the_body_timeout_for_a_whole_body_s_client_to_leave_is_not_cut() -> None:
    sent = await _through_bounds(
        [{"type": "http.request", "body": b"{}", "more_body": False}], then_wait_s=0.5, app_asks_again=True
    )
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [200]
    assert len(sent) == 3
