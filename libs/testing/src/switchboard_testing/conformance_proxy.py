"""A loopback reverse proxy that adds headers (the gateway's `Authorization: Bearer …`) to every
request it forwards, for clients that cannot send headers of their own, such as the official
MCP conformance suite.

Bodies stream both ways as they arrive, so SSE responses pass event by event; the `Host` and
`Origin` headers pass unchanged, so the target still judges DNS-rebinding protection on what
the client sent. A client that hangs up has its upstream response closed at once.

    with start_header_proxy("http://127.0.0.1:4444", {"authorization": "Bearer …"}) as base_url:
        ...  # base_url + "/servers/<id>/mcp" reaches the gateway, authenticated
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator, Mapping

import anyio
import httpx
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from switchboard_testing.errors import ProcessStartError

STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0

# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


class HeaderAddingProxy:
    """ASGI app forwarding every HTTP request to `target` with `headers` set (replacing any the client sent)."""

    def __init__(self, target: str, headers: Mapping[str, str]) -> None:
        self._target = target.rstrip("/")
        self._added = {
            name.lower().encode("latin-1"): value.encode("latin-1") for name, value in headers.items()
        }
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # No read timeout: an SSE stream may stay quiet for as long as the server likes.
                self._client = httpx.AsyncClient(
                    timeout=httpx.Timeout(10.0, read=None), follow_redirects=False
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._client is not None, (
            "the proxy serves requests only between lifespan startup and shutdown"
        )
        body = await _read_body(receive)
        url = self._target + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode("latin-1")
        request = self._client.build_request(scope["method"], url, headers=self._headers(scope), content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            await _reply(send, 502, f"proxy: {type(exc).__name__}: {exc}".encode())
            return
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [
                        (name, value)
                        for name, value in response.headers.raw
                        if name.lower() not in _HOP_BY_HOP
                    ],
                }
            )
            await _pump_until_done_or_gone(response, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await response.aclose()

    def _headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        kept = [
            (name, value)
            for name, value in scope["headers"]
            if name not in _HOP_BY_HOP and name not in self._added and name != b"content-length"
        ]
        return kept + list(self._added.items())


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _pump_until_done_or_gone(response: httpx.Response, receive: Receive, send: Send) -> None:
    """Send the upstream body on as it arrives; stop when it ends or when the client hangs up."""
    async with anyio.create_task_group() as tasks:

        async def pump() -> None:
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            tasks.cancel_scope.cancel()

        async def watch() -> None:
            message: Message = {}
            while message.get("type") != "http.disconnect":
                message = await receive()
            tasks.cancel_scope.cancel()

        tasks.start_soon(pump)
        tasks.start_soon(watch)


async def _reply(send: Send, status: int, body: bytes) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


@contextlib.contextmanager
def start_header_proxy(target: str, headers: Mapping[str, str]) -> Iterator[str]:
    """Serve a `HeaderAddingProxy` to `target` on a free loopback port; yield its base URL."""
    with serve_in_thread(HeaderAddingProxy(target, headers)) as base_url:
        yield base_url


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port, in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound here and handed over, so no other process can take the port
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="auto", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="asgi-server", daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
        sock.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise ProcessStartError("the in-thread server stopped before it started serving")
        if time.monotonic() >= deadline:
            raise ProcessStartError(f"the in-thread server did not start within {STARTUP_TIMEOUT_S}s")
        time.sleep(0.02)
