"""A fixture upstream MCP server, built with the official SDK and served over Streamable HTTP.

Tests and benchmarks point the gateway at it as a real, independent upstream:

    python -m switchboard_testing.upstream_server --port 9100 [--name fixture] [--stateless] [--sse] [--modern-only] [--page-size N] [--tools N]

serves `http://127.0.0.1:9100/mcp` (and `GET /healthz` for readiness). Its tools:

- `echo(text)` returns the text, `add(a, b)` the sum;
- `fail(message)` fails, so the result carries `isError: true` and the message;
- `slow(seconds)` sleeps, then returns "slept <seconds>";
- `headers()` returns the HTTP request headers this call arrived with, names lower-cased
  (to check that `traceparent` arrives and the client's `Authorization` never does);
- `progress(steps, delay=0)` reports progress `steps` times, `delay` s apart, and logs a
  message, then answers;
- `sample(prompt)` asks the client to sample (sampling/createMessage) and returns its text;
- `elicit(question)` asks the client for a `name` (elicitation/create) and returns the answer;
- `roots()` asks the client for its roots (roots/list) and returns their URIs;
- `grow(name)` adds a tool `name` (answering its own name) and sends
  `notifications/tools/list_changed` to every open session (on their GET streams);
- `touch(uri)` sends `notifications/resources/updated` for `uri` to the sessions that
  subscribed to it (`resources/subscribe` is served) and to the listen streams naming it,
  and answers how many sessions it told;
- `interview(topic)` asks the user for a name (elicitation) and the client's model about the
  topic (sampling) through the SDK's resolvers: one `input_required` round at 2026-07-28,
  two requests one after the other before;
- `session_counter()` counts the calls made in the upstream session it is called in and
  answers `<upstream session id> <count>` (a stateful upstream keeping per-client state);
- `tally()` counts its own calls, whatever the session, and answers the count so far (to
  show a gateway made, or did not make, some calls);
- `route(region, payload, priority=0)` declares `region` and `priority` as `Mcp-Param-*`
  headers (`x-mcp-header`) and answers with its arguments and the headers it received;
- `tool_0` … `tool_{N-1}` with `--tools N`, each returning its own name.

Resources `fixture://static` (text) and the template `fixture://items/{item_id}`, the
prompt `greet(name)`, and completion of `greet`'s `name` argument.

`--stateless` serves stateless HTTP with plain JSON responses (no session, no SSE), which
is what the benchmark drives. `--sse` serves the legacy HTTP+SSE transport (2024-11-05)
instead: the stream at `/sse`, messages POSTed to `/messages/`. `--modern-only` serves only the
stateless revision 2026-07-28: whatever comes at a handshake-era version (an `initialize`, a
request without an `MCP-Protocol-Version` header) is refused as a 2026-only SDK server refuses
it, HTTP 400 with `-32022` and `data.supported` naming 2026-07-28 alone. `--page-size N` pages
`tools/list` N tools at a time. `GET /sessions` answers what happened to each session, by
its id: `{"<id>": {"opened": 1, "deleted": 0, "streams": 1}}` (initializes answered,
DELETEs received, GET streams asked for). `--accept-header 'name: value'` (repeatable) and
`--oauth-client id:secret` (with `--token-lifetime S`) make it require credentials, and it
records the `Authorization` headers it receives (`upstream_gate`). To run it as a child
process, see `upstream_process`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from collections.abc import Callable
from typing import Annotated, Any

import anyio
import uvicorn
from mcp.server import MCPServer
from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve, Sample
from mcp.server.session import ServerSession
from mcp.types import (
    Completion,
    CreateMessageResult,
    EmptyResult,
    SamplingMessage,
    SubscribeRequestParams,
    TextContent,
    UnsubscribeRequestParams,
)
from mcp_types import UNSUPPORTED_PROTOCOL_VERSION
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from switchboard_testing.upstream_gate import CredentialGate
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

__all__ = ["build_server", "build_app", "serve", "main", "UpstreamProcess", "start_upstream"]


def build_server(*, name: str = "fixture", extra_tools: int = 0, page_size: int = 0) -> MCPServer:
    """The fixture MCP server: its five tools plus `extra_tools` trivial ones; `tools/list`
    in pages of `page_size` tools when it is set."""
    sessions = _OpenSessions()
    middleware: list[Any] = [sessions]
    if page_size > 0:
        middleware.append(_PagedToolList(page_size))
    server = MCPServer(name, log_level="WARNING", middleware=middleware)

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def fail(message: str) -> str:
        """Always fail with the given message (the result has isError: true)."""
        raise ToolError(message)

    @server.tool()
    async def slow(seconds: float) -> str:
        """Sleep for the given number of seconds, then answer."""
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool()
    def headers(ctx: Context) -> dict[str, str]:
        """The HTTP request headers this call arrived with, names lower-cased."""
        received = ctx.headers or {}
        return {key.lower(): value for key, value in received.items()}

    @server.tool()
    async def progress(steps: int, ctx: Context, delay: float = 0.0) -> str:
        """Report progress `steps` times, `delay` seconds apart (and log once), then answer."""
        steps = max(0, min(steps, 1000))
        await ctx.info(f"starting {steps} steps")
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
            await asyncio.sleep(min(max(delay, 0.0), 5.0))  # also yields when there is no progress token
        return f"did {steps} steps"

    @server.tool()
    async def sample(prompt: str, ctx: Context) -> str:
        """Ask the client's model (sampling/createMessage) and return what it said."""
        result = await ctx.session.create_message(
            [SamplingMessage(role="user", content=TextContent(type="text", text=prompt))],
            max_tokens=50,
            related_request_id=ctx.request_id,
        )
        return result.content.text if isinstance(result.content, TextContent) else str(result.content)

    @server.tool()
    async def elicit(question: str, ctx: Context) -> str:
        """Ask the user (elicitation/create) for a name and return the answer."""
        answer = await ctx.elicit(question, schema=_Name)
        return f"{answer.action}: {answer.data.name if answer.data else ''}"

    @server.tool()
    async def roots(ctx: Context) -> list[str]:
        """Ask the client for its roots (roots/list) and return their URIs."""
        result = await ctx.session.list_roots()
        return [str(root.uri) for root in result.roots]

    @server.tool()
    async def grow(name: str, ctx: Context) -> str:
        """Add a tool `name` (answering its own name) and tell every open session the tools changed."""
        server.add_tool(_answering(name), name=name, description=f"Grown tool {name}.")
        await sessions.tools_changed()
        await ctx.notify_tools_changed()  # subscriptions/listen streams (2026-07-28)
        return name

    @server.tool()
    async def touch(uri: str, ctx: Context) -> int:
        """Tell the sessions subscribed to `uri` (and listen streams naming it) that it
        changed; answer how many sessions were told."""
        await ctx.notify_resource_updated(uri)
        return await sessions.resource_updated(uri)

    @server.tool()
    def interview(
        topic: str,
        who: Annotated[_Name, Resolve(_ask_name)],
        said: Annotated[CreateMessageResult, Resolve(_ask_model)],
    ) -> str:
        """Ask the user for a name and the client's model about `topic`: one
        input_required round at 2026-07-28, two requests one after the other before."""
        text = said.content.text if isinstance(said.content, TextContent) else str(said.content)
        return f"{who.name} on {topic}: {text}"

    counts: dict[str, int] = {}
    tallied = 0

    @server.tool()
    def session_counter(ctx: Context) -> str:
        """Count the calls made in this upstream session; answer `<session id> <count>`."""
        session_id = {k.lower(): v for k, v in (ctx.headers or {}).items()}.get("mcp-session-id", "")
        counts[session_id] = counts.get(session_id, 0) + 1
        return f"{session_id} {counts[session_id]}"

    @server.tool()
    def tally() -> int:
        """Count this tool's calls, whatever the session; answer the count so far."""
        nonlocal tallied
        tallied += 1
        return tallied

    @server.tool()
    def route(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
        payload: str,
        ctx: Context,
        priority: Annotated[int, Field(json_schema_extra={"x-mcp-header": "Priority"})] = 0,
    ) -> dict[str, Any]:
        """Answer with the arguments and the Mcp-Param-* headers they came with."""
        received = {k.lower(): v for k, v in (ctx.headers or {}).items()}
        mirrored = {k: v for k, v in received.items() if k.startswith("mcp-param-")}
        return {"region": region, "payload": payload, "priority": priority, "headers": mirrored}

    @server.resource("fixture://static", mime_type="text/plain")
    def static_resource() -> str:
        """A fixed text resource."""
        return f"static text from {name}"

    @server.resource("fixture://items/{item_id}", mime_type="text/plain")
    def item(item_id: str) -> str:
        """One item, by id."""
        return f"item {item_id}"

    @server.prompt()
    def greet(name: str) -> str:
        """A greeting prompt."""
        return f"Say hello to {name}."

    @server.completion()
    async def complete(ref, argument, context) -> Completion | None:
        if argument.name == "name":
            return Completion(values=[v for v in ("alice", "albert", "bob") if v.startswith(argument.value)])
        return None

    for index in range(extra_tools):
        tool_name = f"tool_{index}"
        server.add_tool(_answering(tool_name), name=tool_name, description=f"Extra tool {index}.")

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    _serve_subscriptions(server, sessions)
    return server


def _serve_subscriptions(server: MCPServer, sessions: _OpenSessions) -> None:
    async def subscribe(ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
        sessions.subscribe(ctx, str(params.uri), on=True)
        return EmptyResult()

    async def unsubscribe(
        ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams
    ) -> EmptyResult:
        sessions.subscribe(ctx, str(params.uri), on=False)
        return EmptyResult()

    # MCPServer has no decorator for these (the stateless revision replaced them with
    # subscriptions/listen); the low-level server serves them and advertises `resources.subscribe`.
    server._lowlevel_server.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    server._lowlevel_server.add_request_handler(
        "resources/unsubscribe", UnsubscribeRequestParams, unsubscribe
    )


class _Name(BaseModel):
    name: str


def _ask_name(topic: str) -> Elicit[_Name]:
    return Elicit(f"Who knows about {topic}?", _Name)


def _ask_model(topic: str) -> Sample:
    return Sample([SamplingMessage(role="user", content=TextContent(type="text", text=topic))], max_tokens=20)


class _OpenSessions:
    """Middleware remembering each session that spoke to the server, so a change reaches them all
    (the SDK sends a session's notifications only to that session's GET stream)."""

    def __init__(self) -> None:
        self._by_id: dict[str, ServerSession] = {}
        self._subscribed: dict[str, set[str]] = {}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        session_id = ctx.request.headers.get("mcp-session-id") if ctx.request is not None else None
        if session_id:
            self._by_id[session_id] = ctx.session
        return await call_next(ctx)

    def subscribe(self, ctx: ServerRequestContext[Any, Any], uri: str, *, on: bool) -> None:
        session_id = ctx.request.headers.get("mcp-session-id") if ctx.request is not None else None
        if session_id:
            uris = self._subscribed.setdefault(session_id, set())
            if on:
                uris.add(uri)
            else:
                uris.discard(uri)

    async def resource_updated(self, uri: str) -> int:
        told = 0
        for session_id, uris in list(self._subscribed.items()):
            session = self._by_id.get(session_id)
            if uri in uris and session is not None:
                try:
                    await session.send_resource_updated(uri)
                    told += 1
                except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                    self._subscribed.pop(session_id, None)
        return told

    async def tools_changed(self) -> None:
        for session_id, session in list(self._by_id.items()):
            try:
                await session.send_tool_list_changed()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._by_id.pop(session_id, None)


class _PagedToolList:
    """Middleware answering `tools/list` a page at a time; the cursor is the next offset."""

    def __init__(self, page_size: int) -> None:
        self._page_size = page_size

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "tools/list":
            return await call_next(ctx)
        params = dict(ctx.params or {})
        cursor = params.pop("cursor", None)
        result = await call_next(dataclasses.replace(ctx, params=params))
        listed = (
            result
            if isinstance(result, dict)
            else result.model_dump(by_alias=True, mode="json", exclude_none=True)
        )
        start = int(cursor) if isinstance(cursor, str) and cursor.isdigit() else 0
        tools = listed.get("tools") or []
        page = {**listed, "tools": tools[start : start + self._page_size]}
        page.pop("nextCursor", None)
        if start + self._page_size < len(tools):
            page["nextCursor"] = str(start + self._page_size)
        return page


class _ModernOnly:
    """Serves `/mcp` at the stateless revision only: anything at a handshake-era version
    (or none) gets the answer a connection locked to 2026-07-28 gives an `initialize`,
    HTTP 400 with `-32022` naming only the modern versions."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/mcp":
            return await self._app(scope, receive, send)
        version = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"mcp-protocol-version"), None
        )
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            return await self._app(scope, receive, send)
        if scope["method"] != "POST":
            return await PlainTextResponse("", status_code=405, headers={"Allow": "POST"})(
                scope, receive, send
            )
        try:
            message = json.loads(await Request(scope, receive).body())
        except ValueError:
            message = None
        message = message if isinstance(message, dict) else {}
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        requested = params.get("protocolVersion") if message.get("method") == "initialize" else version
        error = {
            "code": UNSUPPORTED_PROTOCOL_VERSION,
            "message": "this server serves only the 2026-07-28 protocol; the initialize handshake is not accepted",
            "data": {"supported": list(MODERN_PROTOCOL_VERSIONS), "requested": requested or ""},
        }
        body = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "error": error})
        await PlainTextResponse(body, status_code=400, media_type="application/json")(scope, receive, send)


class _SessionLedger:
    """Counts, per session id, initializes answered, DELETEs and GET streams asked for;
    serves them at `GET /sessions` (what a test asks to see how a gateway used sessions)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._sessions: dict[str, dict[str, int]] = {}

    def _count(self, session_id: str, what: str) -> None:
        counts = self._sessions.setdefault(session_id, {"opened": 0, "deleted": 0, "streams": 0})
        counts[what] += 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self._app(scope, receive, send)
        if scope["path"] == "/sessions":
            body = json.dumps(self._sessions)
            return await PlainTextResponse(body, media_type="application/json")(scope, receive, send)
        session_id = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"mcp-session-id"), "")
        method = scope["method"]
        if session_id and method in ("DELETE", "GET"):
            self._count(session_id, "deleted" if method == "DELETE" else "streams")
        if session_id or method != "POST":
            return await self._app(scope, receive, send)

        async def noting_new_sessions(message) -> None:
            if message["type"] == "http.response.start":
                for key, value in message.get("headers") or []:
                    if key.lower() == b"mcp-session-id":
                        self._count(value.decode("latin-1"), "opened")
            await send(message)

        return await self._app(scope, receive, noting_new_sessions)


def _answering(answer: str) -> Callable[[], str]:
    def tool() -> str:
        return answer

    return tool


def build_app(
    *,
    name: str = "fixture",
    stateless: bool = False,
    extra_tools: int = 0,
    sse: bool = False,
    modern_only: bool = False,
    page_size: int = 0,
    accept_headers: tuple[str, ...] = (),
    oauth_client: str | None = None,
    token_lifetime_s: float = 3600.0,
    host: str = "127.0.0.1",
) -> ASGIApp:
    """The ASGI app serving the fixture server at `/mcp` (or legacy SSE at `/sse`), and `/healthz`.

    `host` is where it listens: on loopback the SDK accepts only loopback Host headers
    (DNS-rebinding protection); elsewhere (a container bridge) it accepts any."""
    server = build_server(name=name, extra_tools=extra_tools, page_size=page_size)
    if sse:
        app: ASGIApp = server.sse_app(host=host)
    else:
        http: Starlette = server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=stateless,
            json_response=stateless,
            host=host,
        )
        app = _ModernOnly(http) if modern_only else _SessionLedger(http)
    return CredentialGate(
        app, accept=accept_headers, oauth_client=oauth_client, token_lifetime_s=token_lifetime_s
    )


def serve(
    *,
    port: int,
    name: str = "fixture",
    stateless: bool = False,
    extra_tools: int = 0,
    sse: bool = False,
    modern_only: bool = False,
    page_size: int = 0,
    accept_headers: tuple[str, ...] = (),
    oauth_client: str | None = None,
    token_lifetime_s: float = 3600.0,
    host: str = "127.0.0.1",
) -> None:
    """Serve the fixture server on `host`:`port` until interrupted."""
    app = build_app(
        name=name,
        stateless=stateless,
        extra_tools=extra_tools,
        sse=sse,
        modern_only=modern_only,
        page_size=page_size,
        accept_headers=accept_headers,
        oauth_client=oauth_client,
        token_lifetime_s=token_lifetime_s,
        host=host,
    )
    # Open event streams (a gateway following this upstream) must not hold a stop back.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fixture upstream MCP server (Streamable HTTP at /mcp).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (a container bridge's, for containers)"
    )
    parser.add_argument("--name", default="fixture", help="server name reported in serverInfo")
    parser.add_argument(
        "--stateless", action="store_true", help="stateless HTTP with JSON responses (for benchmarks)"
    )
    parser.add_argument(
        "--sse", action="store_true", help="the legacy HTTP+SSE transport (2024-11-05) at /sse"
    )
    parser.add_argument(
        "--modern-only", action="store_true", help="serve only the stateless revision 2026-07-28"
    )
    parser.add_argument(
        "--page-size", type=int, default=0, metavar="N", help="list tools N at a time (0: all at once)"
    )
    parser.add_argument(
        "--tools", type=int, default=0, metavar="N", help="add N trivial tools tool_0..tool_{N-1}"
    )
    parser.add_argument(
        "--accept-header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="require this header on MCP requests (repeat: any one of them)",
    )
    parser.add_argument(
        "--oauth-client", metavar="ID:SECRET", help="serve POST /token and accept the tokens it issues"
    )
    parser.add_argument("--token-lifetime", type=float, default=3600.0, metavar="S")
    args = parser.parse_args(argv)
    serve(
        port=args.port,
        name=args.name,
        stateless=args.stateless,
        extra_tools=args.tools,
        sse=args.sse,
        modern_only=args.modern_only,
        page_size=args.page_size,
        accept_headers=tuple(args.accept_header),
        oauth_client=args.oauth_client,
        token_lifetime_s=args.token_lifetime,
        host=args.host,
    )


if __name__ == "__main__":
    main()
