"""Streamable HTTP endpoint (`/mcp`, `/servers/{server_id}/mcp`) as a plain ASGI app.

It turns HTTP into JSON-RPC messages and back; what a method does is decided in
`dispatch`. Kept off FastAPI's request machinery because it is the hot path.
"""

from __future__ import annotations

import logging

from opentelemetry import context, propagate, trace
from switchboard_core import telemetry
from switchboard_core.errors import RateLimited, SwitchboardError, status_of
from switchboard_core.http.edge import request_id
from switchboard_mcp import jsonrpc, versions

from switchboard_proxy import open_streams, stateless_rules
from switchboard_proxy.bearer_gate import BearerGate, Refusal
from switchboard_proxy.dispatch import CallContext, Dispatcher
from switchboard_proxy.event_mirror import EventMirror
from switchboard_proxy.forward import Relay, final_reply
from switchboard_proxy.http_replies import (
    ANSWERED,
    read_body,
    read_message,
    reply,
)
from switchboard_proxy.input_rounds import InputRounds
from switchboard_proxy.listen_streams import ListenStreams
from switchboard_proxy.session_streams import stream_reply, stream_session
from switchboard_proxy.sessions import SessionStore, state_problem
from switchboard_proxy.settings import ProxySettings
from switchboard_proxy.stateless_calls import InteractiveCalls
from switchboard_proxy.stateless_http import StatelessExchange

__all__ = ["McpEndpoint", "read_body", "reply"]

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class McpEndpoint:
    def __init__(
        self,
        settings: ProxySettings,
        gate: BearerGate,
        sessions: SessionStore,
        dispatcher: Dispatcher,
        listens: ListenStreams | None = None,
        rounds: InputRounds | None = None,
    ) -> None:
        self._settings = settings
        self._gate = gate
        self._sessions = sessions
        self._dispatcher = dispatcher
        self._stateless = StatelessExchange(
            dispatcher,
            listens if listens is not None else ListenStreams(),
            # (Not `rounds or ...`: an InputRounds with nothing parked is falsy.)
            rounds if rounds is not None else InputRounds(dispatcher.deliver, ttl_s=settings.input_wait_s),
        )
        # Stream logs in Redis when replicas share sessions (set by the service).
        self.mirror: EventMirror | None = None
        self.relay = None  # session_relay.SessionRelay, likewise
        self._traced = telemetry.tracing_active()

    @property
    def interactive_calls(self) -> InteractiveCalls:
        """The stateless calls that may wait for the client's input (set up by the service)."""
        return self._stateless.calls

    async def __call__(self, scope, receive, send) -> None:
        headers = _headers(scope)
        server_id = scope.get("path_params", {}).get("server_id", "")
        started = False

        async def tracking_send(message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            if not self._traced:
                return await self._serve(scope, receive, tracking_send, headers, server_id)
            token = context.attach(propagate.extract(headers))
            # Named by the route, not the path: one span name per endpoint, not per server.
            route = "/servers/{server_id}/mcp" if server_id else scope["path"]
            try:
                with tracer.start_as_current_span(
                    f"{scope['method']} {route}",
                    kind=trace.SpanKind.SERVER,
                    attributes={
                        "http.request.method": scope["method"],
                        "http.route": route,
                        "switchboard.request_id": request_id(),
                    },
                ):
                    await self._serve(scope, receive, tracking_send, headers, server_id)
            finally:
                context.detach(token)
        except Exception:
            logger.exception("MCP request failed")
            if not started:
                await reply(send, 500, jsonrpc.error(None, jsonrpc.INTERNAL_ERROR, "Internal error"))

    async def _serve(self, scope, receive, send, headers: dict[str, str], server_id: str) -> None:
        method = scope["method"]
        principal = await self._gate.admit(scope, headers, server_id)
        if isinstance(principal, Refusal):
            return await principal.send(send)
        if method == "POST":
            return await self._post(scope, receive, send, headers, server_id, principal)
        if _is_stateless(headers) and method in ("GET", "DELETE"):
            # The stateless revision has no session to stream from or end.
            return await reply(send, 405, None, [(b"allow", b"POST")])
        if method == "DELETE":
            session_id = headers.get("mcp-session-id", "")
            if await self._sessions.find(session_id, user_id=principal.user_id, server_id=server_id) is None:
                return await reply(
                    send, 404, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "Session not found")
                )
            await self._sessions.delete(session_id)
            return await reply(send, 204, None)
        if method == "GET":
            session = await self._sessions.find(
                headers.get("mcp-session-id", ""), user_id=principal.user_id, server_id=server_id
            )
            if session is None:
                return await reply(send, 404 if "mcp-session-id" in headers else 400, None)
            with open_streams.held(open_streams.GET):
                return await stream_session(
                    session, headers.get("last-event-id"), receive, send, self.mirror, self.relay
                )
        return await reply(send, 405, None, [(b"allow", b"GET, POST, DELETE")])

    async def _post(self, scope, receive, send, headers: dict[str, str], server_id: str, principal) -> None:
        media_problem = _media_problem(headers)
        if media_problem is not None:
            status, message = media_problem
            return await reply(send, status, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, message))
        msg = await read_message(
            receive, send, self._settings.max_message_bytes, self._settings.max_batch_messages
        )
        if msg is ANSWERED:
            return
        if isinstance(msg, list):
            refused = next(
                (r for m in msg if (r := self._gate.refusal_of(scope, headers, principal, m))), None
            )
            if refused is not None:
                return await refused.send(send)
            return await self._batch(send, headers, msg, server_id, principal)
        problem = jsonrpc.envelope_problem(msg)
        if problem is not None:
            return await reply(
                send, 400, jsonrpc.error(jsonrpc.readable_id(msg), jsonrpc.INVALID_REQUEST, problem)
            )
        refused = self._gate.refusal_of(scope, headers, principal, msg)
        if refused is not None:
            return await refused.send(send, msg["id"])
        if msg.get("method") == "initialize":
            return await self._initialize(send, msg, server_id, principal)

        requested_version = headers.get("mcp-protocol-version")
        if requested_version is not None and requested_version not in versions.SUPPORTED:
            if _is_stateless(headers):
                return await self._stateless.serve(scope, receive, send, headers, msg, server_id, principal)
            return await reply(
                send,
                400,
                jsonrpc.error(
                    msg.get("id"),
                    jsonrpc.INVALID_REQUEST,
                    f"Unsupported MCP-Protocol-Version: {requested_version}",
                ),
            )
        session_id = headers.get("mcp-session-id")
        if session_id is None:
            if stateless_rules.is_stateless_body(msg):
                # A 2026 envelope without its header: the ladder says which header is wrong.
                return await self._stateless.serve(scope, receive, send, headers, msg, server_id, principal)
            if msg.get("method") == "server/discover":
                # A handshake-era (or absent) version: name ours, so an auto-negotiating
                # client retries at 2026-07-28 or falls back to initialize.
                rejection = stateless_rules.unsupported_version(
                    requested_version or versions.DEFAULT_NEGOTIATED
                )
                return await reply(send, rejection.status, rejection.reply(msg.get("id")))
            if "method" in msg and not self._dispatcher.knows(msg["method"]):
                error = jsonrpc.error(
                    msg.get("id"), jsonrpc.METHOD_NOT_FOUND, f"Method not found: {msg['method']}"
                )
            else:
                error = jsonrpc.error(
                    msg.get("id"), jsonrpc.INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required"
                )
            return await reply(send, 400, error)
        session = await self._sessions.find(session_id, user_id=principal.user_id, server_id=server_id)
        if session is None:
            return await reply(
                send, 404, jsonrpc.error(msg.get("id"), jsonrpc.INVALID_REQUEST, "Session not found")
            )
        if jsonrpc.is_response(msg):
            await self._dispatcher.deliver(msg, session)
            return await reply(send, 202, None)
        if jsonrpc.is_notification(msg):
            await self._dispatcher.notify(msg, session)
            return await reply(send, 202, None)
        ctx = CallContext(principal, server_id, session.protocol_version, session)
        answer = await self._dispatcher.handle(msg, ctx)
        if isinstance(answer, Relay):
            with open_streams.held(open_streams.POST):
                return await stream_reply(answer, msg["id"], session, receive, send)
        await reply(send, 200, answer)

    async def _batch(self, send, headers: dict[str, str], batch: list, server_id: str, principal) -> None:
        """JSON-RPC batches: only 2025-03-26 allows them (2025-06-18 removed them). Each
        request is answered in one JSON array; what an upstream streams before its
        response is not relayed in a batch."""
        session = await self._sessions.find(
            headers.get("mcp-session-id", ""), user_id=principal.user_id, server_id=server_id
        )
        if session is None or session.protocol_version != versions.BATCHING:
            error = jsonrpc.error(
                None, jsonrpc.INVALID_REQUEST, "Batches are not supported by this protocol version"
            )
            return await reply(send, 400, error)
        ctx = CallContext(principal, server_id, session.protocol_version, session)
        answers = []
        for msg in batch:
            problem = jsonrpc.envelope_problem(msg)
            if problem is not None or msg.get("method") == "initialize":
                answers.append(
                    jsonrpc.error(
                        jsonrpc.readable_id(msg),
                        jsonrpc.INVALID_REQUEST,
                        problem or "initialize cannot be batched",
                    )
                )
            elif jsonrpc.is_response(msg):
                await self._dispatcher.deliver(msg, session)
            elif jsonrpc.is_notification(msg):
                await self._dispatcher.notify(msg, session)
            else:
                answers.append(await final_reply(await self._dispatcher.handle(msg, ctx)))
        await (reply(send, 200, answers) if answers else reply(send, 202, None))

    async def _initialize(self, send, msg: dict, server_id: str, principal) -> None:
        if "id" not in msg:
            return await reply(
                send, 400, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "initialize must be a request")
            )
        params = msg.get("params")
        if not isinstance(params, dict) or not isinstance(params.get("protocolVersion"), str):
            error = jsonrpc.error(
                msg["id"], jsonrpc.INVALID_PARAMS, "initialize needs params with a protocolVersion string"
            )
            return await reply(send, 200, error)
        problem = state_problem(params, self._settings.max_session_state_bytes)
        if problem is not None:
            return await reply(send, 200, jsonrpc.error(msg["id"], jsonrpc.INVALID_PARAMS, problem))
        # Fail early for an unknown server rather than on the first list.
        try:
            await self._dispatcher.catalogs.get(server_id)
        except SwitchboardError as exc:
            code = status_of(exc)
            return await reply(send, code[0], jsonrpc.error(msg["id"], code[2], exc.message))
        result = self._dispatcher.initialize_result(params)
        try:
            session = await self._sessions.create(
                user_id=principal.user_id,
                server_id=server_id,
                protocol_version=result["protocolVersion"],
                client_info=params.get("clientInfo") or {},
                client_capabilities=params.get("capabilities") or {},
            )
        except RateLimited as exc:  # the user holds as many sessions as they may
            code = status_of(exc)
            retry_after = [(b"retry-after", str(exc.retry_after_s).encode())]
            return await reply(
                send, code[0], jsonrpc.error(msg["id"], code[2], exc.message, exc.data), retry_after
            )
        except SwitchboardError as exc:  # the shared session records are unreachable
            code = status_of(exc)
            return await reply(send, code[0], jsonrpc.error(msg["id"], code[2], exc.message))
        await reply(send, 200, jsonrpc.result(msg["id"], result), [(b"mcp-session-id", session.id.encode())])


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _is_stateless(headers: dict[str, str]) -> bool:
    """A request of the stateless revision: a version header naming no handshake-era
    version (unknown ones too, so they are told what is served) and no session."""
    version = headers.get("mcp-protocol-version")
    return version is not None and version not in versions.HANDSHAKE and "mcp-session-id" not in headers


_JSON_TYPES = ("application/json",)
_ACCEPTABLE = ("application/json", "text/event-stream", "*/*", "application/*", "text/*")


def _media_problem(headers: dict[str, str]) -> tuple[int, str] | None:
    """415 for a body that does not say it is JSON, 406 for a client that accepts
    neither JSON nor SSE (a missing Accept header is taken as accepting both)."""
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type not in _JSON_TYPES:
        return 415, "Content-Type must be application/json"
    accept = headers.get("accept")
    if accept is not None and not any(kind in accept.lower() for kind in _ACCEPTABLE):
        return 406, "Accept must allow application/json or text/event-stream"
    return None
