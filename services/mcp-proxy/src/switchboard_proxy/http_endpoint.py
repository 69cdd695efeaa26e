"""Streamable HTTP endpoint (`/mcp`, `/servers/{server_id}/mcp`) as a plain ASGI app.

It turns HTTP into JSON-RPC messages and back; what a method does is decided in
`dispatch`. Kept off FastAPI's request machinery because it is the hot path.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import orjson
from opentelemetry import context, propagate, trace
from switchboard_core.errors import SwitchboardError, Unauthenticated, status_of
from switchboard_core.principals import PrincipalCache, bearer_token
from switchboard_mcp import jsonrpc, versions

from switchboard_proxy.dispatch import CallContext, Dispatcher
from switchboard_proxy.sessions import SessionStore
from switchboard_proxy.settings import ProxySettings

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

_JSON = [(b"content-type", b"application/json")]
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
_WWW_AUTHENTICATE = (b"www-authenticate", b'Bearer realm="switchboard"')


class McpEndpoint:
    def __init__(
        self,
        settings: ProxySettings,
        principals: PrincipalCache,
        sessions: SessionStore,
        dispatcher: Dispatcher,
    ) -> None:
        self._settings = settings
        self._principals = principals
        self._sessions = sessions
        self._dispatcher = dispatcher
        self._allowed_origins = set(settings.allowed_origins)

    async def __call__(self, scope, receive, send) -> None:
        headers = _headers(scope)
        server_id = scope.get("path_params", {}).get("server_id", "")
        token = context.attach(propagate.extract(headers))
        try:
            with tracer.start_as_current_span(
                f"{scope['method']} {scope['path']}", kind=trace.SpanKind.SERVER
            ):
                await self._serve(scope, receive, send, headers, server_id)
        finally:
            context.detach(token)

    async def _serve(self, scope, receive, send, headers: dict[str, str], server_id: str) -> None:
        method = scope["method"]
        if not self._origin_allowed(headers.get("origin")):
            return await _reply(send, 403, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "Origin not allowed"))
        try:
            principal = await self._principals.authenticate(bearer_token(headers.get("authorization")))
        except SwitchboardError as exc:
            code = status_of(exc)
            extra = [_WWW_AUTHENTICATE] if isinstance(exc, Unauthenticated) else []
            return await _reply(send, code[0], jsonrpc.error(None, code[2], exc.message), extra)
        if method == "POST":
            return await self._post(receive, send, headers, server_id, principal)
        if method == "DELETE":
            session_id = headers.get("mcp-session-id", "")
            if self._sessions.get(session_id, user_id=principal.user_id, server_id=server_id) is None:
                return await _reply(
                    send, 404, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "Session not found")
                )
            self._sessions.delete(session_id)
            return await _reply(send, 204, None)
        # GET (server-initiated stream) is not offered yet; the spec allows 405.
        return await _reply(send, 405, None, [(b"allow", b"POST, DELETE")])

    async def _post(self, receive, send, headers: dict[str, str], server_id: str, principal) -> None:
        body = await _read_body(receive, self._settings.max_message_bytes)
        if body is None:
            limit = self._settings.max_message_bytes
            return await _reply(
                send, 413, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, f"Message over {limit} bytes")
            )
        try:
            msg = orjson.loads(body)
        except orjson.JSONDecodeError:
            return await _reply(send, 400, jsonrpc.error(None, jsonrpc.PARSE_ERROR, "Parse error"))
        if isinstance(msg, list):
            return await _reply(
                send,
                400,
                jsonrpc.error(
                    None, jsonrpc.INVALID_REQUEST, "Batches are not supported by this protocol version"
                ),
            )
        problem = jsonrpc.envelope_problem(msg)
        if problem is not None:
            id_ = msg.get("id") if isinstance(msg, dict) else None
            return await _reply(send, 400, jsonrpc.error(id_, jsonrpc.INVALID_REQUEST, problem))
        if msg.get("method") == "initialize":
            return await self._initialize(send, msg, server_id, principal)

        requested_version = headers.get("mcp-protocol-version")
        if requested_version is not None and requested_version not in versions.SUPPORTED:
            return await _reply(
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
            if "method" in msg and not self._dispatcher.knows(msg["method"]):
                error = jsonrpc.error(
                    msg.get("id"), jsonrpc.METHOD_NOT_FOUND, f"Method not found: {msg['method']}"
                )
            else:
                error = jsonrpc.error(
                    msg.get("id"), jsonrpc.INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required"
                )
            return await _reply(send, 400, error)
        session = self._sessions.get(session_id, user_id=principal.user_id, server_id=server_id)
        if session is None:
            return await _reply(
                send, 404, jsonrpc.error(msg.get("id"), jsonrpc.INVALID_REQUEST, "Session not found")
            )
        if not jsonrpc.is_request(msg):
            return await _reply(send, 202, None)
        ctx = CallContext(principal, server_id, session.protocol_version)
        await _reply(send, 200, await self._dispatcher.handle(msg, ctx))

    async def _initialize(self, send, msg: dict, server_id: str, principal) -> None:
        if "id" not in msg:
            return await _reply(
                send, 400, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "initialize must be a request")
            )
        params = msg.get("params") or {}
        # Fail early for an unknown server rather than on the first list.
        try:
            await self._dispatcher.catalogs.get(server_id)
        except SwitchboardError as exc:
            code = status_of(exc)
            return await _reply(send, code[0], jsonrpc.error(msg["id"], code[2], exc.message))
        result = self._dispatcher.initialize_result(params)
        session = self._sessions.create(
            user_id=principal.user_id,
            server_id=server_id,
            protocol_version=result["protocolVersion"],
            client_info=params.get("clientInfo") or {},
        )
        await _reply(send, 200, jsonrpc.result(msg["id"], result), [(b"mcp-session-id", session.id.encode())])

    def _origin_allowed(self, origin: str | None) -> bool:
        if origin is None or "*" in self._allowed_origins or origin in self._allowed_origins:
            return True
        host = urlsplit(origin).hostname or ""
        return host in _LOOPBACK_HOSTS


def _headers(scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


async def _read_body(receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _reply(send, status: int, payload: dict | None, extra_headers: list | None = None) -> None:
    body = orjson.dumps(payload) if payload is not None else b""
    headers = list(_JSON) if payload is not None else []
    if extra_headers:
        headers.extend(extra_headers)
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
