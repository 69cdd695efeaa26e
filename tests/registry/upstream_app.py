"""A small upstream MCP server for the registry tests, run as a subprocess.

    python upstream_app.py <listening socket fd> <server name>

Serves Streamable HTTP at `/mcp` on the inherited socket. Tools: `echo`, `add`,
`grow(name, kind, announce)`, which adds a tool (or prompt, resource, resource
template) so a refresh has something to find, then tells every open session `announce`
times that the list changed (on their GET streams). `GET /asked?method=M` answers how
many requests of method M the server has been sent, `GET /listening` how many GET
streams are open. It also offers the resource `memo://<server>/readme`,
the resource template `memo://<server>/notes/{topic}` and the prompt `greet(who)`.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections import Counter
from typing import Any

import anyio
import uvicorn
from mcp import types
from mcp.server import MCPServer
from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.session import ServerSession
from starlette.requests import Request
from starlette.responses import JSONResponse

_ANNOUNCEMENTS = {
    "tool": types.ToolListChangedNotification,
    "prompt": types.PromptListChangedNotification,
    "resource": types.ResourceListChangedNotification,
    "template": types.ResourceListChangedNotification,
}


class _Sessions:
    """Middleware: counts requests by method and remembers every session, so a change
    can be announced to all (the SDK sends to one session's GET stream at a time)."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()
        self.listening = 0
        self._by_id: dict[str, ServerSession] = {}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.request_id is not None:
            self.asked[ctx.method] += 1
        session_id = ctx.request.headers.get("mcp-session-id") if ctx.request is not None else None
        if session_id:
            self._by_id[session_id] = ctx.session
        return await call_next(ctx)

    async def announce(self, notification: types.ServerNotification) -> None:
        for session_id, session in list(self._by_id.items()):
            try:
                await session.send_notification(notification)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._by_id.pop(session_id, None)


class _CountingStreams:
    """ASGI wrapper counting the GET streams open at `/mcp`."""

    def __init__(self, app: Any, sessions: _Sessions) -> None:
        self._app = app
        self._sessions = sessions

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/mcp":
            return await self._app(scope, receive, send)
        self._sessions.listening += 1
        try:
            await self._app(scope, receive, send)
        finally:
            self._sessions.listening -= 1


def build(name: str, sessions: _Sessions | None = None) -> MCPServer:
    sessions = sessions or _Sessions()
    server = MCPServer(name, middleware=[sessions])

    @server.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Add two integers.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.custom_route("/asked", methods=["GET"])
    async def asked(request: Request) -> JSONResponse:
        return JSONResponse(sessions.asked[request.query_params["method"]])

    @server.custom_route("/listening", methods=["GET"])
    async def listening(request: Request) -> JSONResponse:
        return JSONResponse(sessions.listening)

    @server.tool(description="Add a tool, prompt ('prompt'), resource ('resource', by URI) or template.")
    async def grow(name: str, kind: str = "tool", announce: int = 0) -> str:
        def grown() -> str:
            return name

        if kind == "prompt":
            server.prompt(name=name, description=f"Grown prompt {name}.")(grown)
        elif kind == "resource":
            server.resource(name, name="grown", description=f"Grown resource {name}.")(grown)
        elif kind == "template":
            server.resource(name, name="grown-template")(lambda topic: topic)
        else:
            server.add_tool(grown, name=name, description=f"Grown tool {name}.")
        for _ in range(announce):
            await sessions.announce(_ANNOUNCEMENTS.get(kind, types.ToolListChangedNotification)())
        return name

    @server.resource(
        f"memo://{name}/readme", name="readme", description=f"About {name}.", mime_type="text/plain"
    )
    def readme() -> str:
        return f"This is {name}."

    @server.resource(f"memo://{name}/notes/{{topic}}", name="note", description="A note on a topic.")
    def note(topic: str) -> str:
        return f"Notes on {topic}."

    @server.prompt(description="Greet someone.")
    def greet(who: str) -> str:
        return f"Say hello to {who}."

    return server


def main() -> None:
    fd, name = int(sys.argv[1]), sys.argv[2]
    sock = socket.socket(fileno=fd)
    sessions = _Sessions()
    app = _CountingStreams(build(name, sessions).streamable_http_app(), sessions)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
