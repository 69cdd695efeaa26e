"""MCP sessions on one proxy replica each with their GET stream read into a queue, for
tests that watch what the gateway tells open sessions (list_changed, ...)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import orjson

from switchboard_testing.mcp_http import session_headers

VERSION = "2025-11-25"


class Session:
    """An MCP session on one proxy replica (`/mcp`: every tool), its GET stream read into a queue."""

    def __init__(self, http: httpx.AsyncClient, base: str, token: str) -> None:
        self._http = http
        self.base = base
        self._token = token
        self.id = ""
        self.notifications: asyncio.Queue[dict] = asyncio.Queue()
        self._stream_open = asyncio.Event()

    async def open(self) -> None:
        initialize = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "t"}},
        }
        response = await self.post(initialize)
        assert response.status_code == 200, response.text
        self.id = response.headers["mcp-session-id"]
        assert (await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})).status_code == 202

    async def post(self, message: dict) -> httpx.Response:
        return await self._http.post(
            f"{self.base}/mcp", content=orjson.dumps(message), headers=session_headers(self._token, self.id)
        )

    async def echo(self, tool: str, id_: int, text: str) -> dict:
        message = {"jsonrpc": "2.0", "id": id_, "method": "tools/call"}
        message["params"] = {"name": tool, "arguments": {"text": text}}
        response = await self.post(message)
        assert response.status_code == 200, response.text
        return response.json()

    async def listen(self) -> None:
        """Read the GET stream until cancelled (start it as a task, then `await opened()`)."""
        headers = session_headers(self._token, self.id) | {"accept": "text/event-stream"}
        async with self._http.stream("GET", f"{self.base}/mcp", headers=headers, timeout=None) as stream:
            assert stream.status_code == 200
            self._stream_open.set()
            async for line in stream.aiter_lines():
                if line.startswith("data:") and line[5:].strip():
                    self.notifications.put_nowait(orjson.loads(line[5:]))

    async def opened(self) -> None:
        async with asyncio.timeout(10):
            await self._stream_open.wait()

    def forget_notifications(self) -> None:
        while not self.notifications.empty():
            self.notifications.get_nowait()

    async def told(self, method: str, *, by: float) -> None:
        """Wait for a notification `method` on the GET stream until the monotonic time `by`."""
        async with asyncio.timeout(max(0.0, by - time.monotonic())):
            while (await self.notifications.get()).get("method") != method:
                pass


@contextlib.asynccontextmanager
async def listening_sessions(
    http: httpx.AsyncClient, bases: list[str], token: str
) -> AsyncIterator[list[Session]]:
    sessions = [Session(http, base, token) for base in bases]
    for session in sessions:
        await session.open()
    listeners = [asyncio.create_task(session.listen()) for session in sessions]
    try:
        for session in sessions:
            await session.opened()
        yield sessions
    finally:
        for listener in listeners:
            listener.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
