"""The loopback proxy that lets the conformance suite reach the gateway with a bearer token."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from switchboard_testing.conformance_proxy import serve_in_thread, start_header_proxy

DEADLINE_S = 5.0
IDLE_STREAM_S = 60.0  # longer than any wait here: only the client leaving ends the stream in time


class Target:
    """An HTTP server that reports the headers it got and streams SSE events on demand."""

    def __init__(self) -> None:
        self.released = anyio.Event()  # set and awaited on the server's own event loop
        self.stream_closed = threading.Event()
        self.app = Starlette(
            routes=[
                Route("/headers", self.headers, methods=["GET", "POST"]),
                Route("/stream", _Asgi(self.stream)),
                Route("/release", self.release, methods=["POST"]),
            ]
        )

    async def headers(self, request: Request) -> JSONResponse:
        return JSONResponse({"headers": dict(request.headers), "body": (await request.body()).decode()})

    async def stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Raw ASGI, so it notices the client leaving while it sends nothing (it waits on receive)."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b"id: 1\ndata: first\n\n", "more_body": True})
        with anyio.fail_after(DEADLINE_S):
            await self.released.wait()
        await send({"type": "http.response.body", "body": b"id: 2\ndata: second\n\n", "more_body": True})
        with anyio.move_on_after(IDLE_STREAM_S):  # idle until the client goes away
            while (await receive())["type"] != "http.disconnect":
                pass
            self.stream_closed.set()

    async def release(self, request: Request) -> PlainTextResponse:
        self.released.set()
        return PlainTextResponse("released")


class _Asgi:
    """Marks a bound method as a raw ASGI app for Starlette's router (which calls methods with a Request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@pytest.fixture
def target() -> Iterator[tuple[Target, str]]:
    target = Target()
    with serve_in_thread(target.app) as base_url:
        yield target, base_url


@pytest.fixture
def proxy(target: tuple[Target, str]) -> Iterator[str]:
    with start_header_proxy(target[1], {"Authorization": "Bearer sesame"}) as base_url:
        yield base_url


def test_the_added_header_replaces_the_clients_and_host_and_origin_pass_unchanged(proxy: str) -> None:
    response = httpx.post(
        f"{proxy}/headers?x=1",
        content=b'{"jsonrpc": "2.0"}',
        headers={
            "authorization": "Bearer wrong",
            "host": "evil.example.com",
            "origin": "http://evil.example.com",
        },
        timeout=DEADLINE_S,
    )
    assert response.status_code == 200
    seen = response.json()
    assert seen["headers"]["authorization"] == "Bearer sesame"
    assert seen["headers"]["host"] == "evil.example.com"
    assert seen["headers"]["origin"] == "http://evil.example.com"
    assert seen["body"] == '{"jsonrpc": "2.0"}'


def test_sse_events_pass_as_they_arrive_not_when_the_stream_ends(
    target: tuple[Target, str], proxy: str
) -> None:
    with httpx.Client(timeout=DEADLINE_S) as client, client.stream("GET", f"{proxy}/stream") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        assert next(lines) == "id: 1"
        assert next(lines) == "data: first"
        # The second event exists only after this request, which the proxy could not have waited for.
        assert client.post(f"{proxy}/release").status_code == 200
        assert next(line for line in lines if line.startswith("data:")) == "data: second"


def test_a_client_hanging_up_closes_the_upstream_stream(target: tuple[Target, str], proxy: str) -> None:
    with httpx.Client(timeout=DEADLINE_S) as client:
        with client.stream("GET", f"{proxy}/stream") as response:
            assert next(response.iter_lines()) == "id: 1"
            assert client.post(f"{proxy}/release").status_code == 200
    assert target[0].stream_closed.wait(DEADLINE_S), "the upstream stream stayed open after the client left"


def test_an_unreachable_target_is_a_502() -> None:
    with serve_in_thread(Starlette()) as gone:
        pass
    with start_header_proxy(gone, {"authorization": "Bearer sesame"}) as proxy:
        response = httpx.get(f"{proxy}/anything", timeout=DEADLINE_S)
    assert response.status_code == 502
