"""The legacy HTTP+SSE transport (protocol 2024-11-05) as a plain ASGI app.

`GET /sse` (or `/servers/{server_id}/sse`) opens a session and its event stream, whose
first event (`endpoint`) names where to POST: `/message?session_id=...`. Each POSTed
message is accepted with 202 and worked on in the background; every answer, and
everything else the session is sent, goes out on the stream as a `message` event. The
session lives as long as its stream. What a method does is decided in `dispatch`,
exactly as for Streamable HTTP.

With replicas (no sticky balancing) a POST may reach a replica other than the one
holding the stream: that one checks the session against the shared records (same
user, same server path), and hands the messages over the bus to the stream's
replica (`SessionRelay.post_elsewhere`), which takes them as if posted there. Only
once the stream's replica heard them is the POST accepted: a session whose stream
died with its replica gets 404.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from urllib.parse import parse_qs

import orjson
from google.protobuf.message import DecodeError
from switchboard.auth.v1 import auth_pb2
from switchboard_core.errors import RateLimited, SwitchboardError, status_of
from switchboard_core.principals import Principal
from switchboard_core.shared.bus import Subscription
from switchboard_mcp import jsonrpc, sse, versions

from switchboard_proxy import open_streams
from switchboard_proxy.bearer_gate import BearerGate, Refusal
from switchboard_proxy.dispatch import CallContext, Dispatcher
from switchboard_proxy.forward import Relay
from switchboard_proxy.http_replies import (
    ANSWERED,
    KEEPALIVE,
    KEEPALIVE_S,
    SSE_HEADERS,
    read_message,
    reply,
    wait_for_disconnect,
)
from switchboard_proxy.session_relay import SessionRelay
from switchboard_proxy.sessions import Session, SessionStore, state_problem
from switchboard_proxy.settings import ProxySettings

logger = logging.getLogger(__name__)


class LegacySseEndpoint:
    """Serves both routes: GET opens a stream, POST delivers a message into one."""

    def __init__(
        self,
        settings: ProxySettings,
        gate: BearerGate,
        sessions: SessionStore,
        dispatcher: Dispatcher,
    ) -> None:
        self._settings = settings
        self._gate = gate
        self._sessions = sessions
        self._dispatcher = dispatcher
        # Per session: the client's requests being worked on, by their id.
        self._work: dict[str, dict[object, asyncio.Task]] = {}
        # Set when replicas share sessions: POSTs reaching other replicas come through it.
        self.relay: SessionRelay | None = None
        # Sessions of other replicas' streams found in the shared records, by id -> (user,
        # server path): their later POSTs need no record read (a gone stream is noticed
        # by nobody hearing the relayed POST).
        self._elsewhere: dict[str, tuple[str, str]] = {}

    async def __call__(self, scope, receive, send) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        server_id = scope.get("path_params", {}).get("server_id", "")
        principal = await self._gate.admit(scope, headers, server_id)
        if isinstance(principal, Refusal):
            return await principal.send(send)
        if scope["method"] == "GET":
            return await self._open(scope, receive, send, server_id, principal)
        return await self._post(scope, receive, send, headers, server_id, principal)

    # -- the stream ----------------------------------------------------------

    async def _open(self, scope, receive, send, server_id: str, principal: Principal) -> None:
        try:
            await self._dispatcher.catalogs.get(server_id)
        except SwitchboardError as exc:
            code = status_of(exc)
            return await reply(send, code[0], jsonrpc.error(None, code[2], exc.message))
        try:
            session = await self._sessions.create(
                user_id=principal.user_id,
                server_id=server_id,
                protocol_version=versions.LEGACY_SSE,
                client_info={},
            )
        except RateLimited as exc:  # the user holds as many sessions as they may
            code = status_of(exc)
            retry_after = [(b"retry-after", str(exc.retry_after_s).encode())]
            return await reply(
                send, code[0], jsonrpc.error(None, code[2], exc.message, exc.data), retry_after
            )
        except SwitchboardError as exc:
            code = status_of(exc)
            return await reply(send, code[0], jsonrpc.error(None, code[2], exc.message))
        self._work[session.id] = {}
        path = scope.get("root_path", "") + scope["path"]
        endpoint = f"{path.removesuffix('/sse')}/message?session_id={session.id}"
        # Heard before the client learns where to POST: its first POST may go elsewhere.
        posts = await self._hear_posts(session)
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        try:
            with open_streams.held(open_streams.LEGACY_SSE):
                await _chunk(send, sse.encode(endpoint.encode(), event="endpoint"))
                await self._pump(session, receive, send, principal)
        except OSError:
            pass
        finally:
            if posts is not None:
                await self.relay.unfeed(posts)
            await self._end(session)
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, session: Session, receive, send, principal: Principal) -> None:
        """Everything for the session onto the stream, until the client leaves or the
        session ends."""
        gone = asyncio.create_task(wait_for_disconnect(receive))
        try:
            while not gone.done():
                getter = asyncio.ensure_future(session.outbox.get())
                await asyncio.wait({getter, gone}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    await _chunk(send, _event(getter.result()))
                    continue
                getter.cancel()
                if gone.done():
                    return
                # An open stream keeps its session alive; an ended one (expired, deleted) ends it.
                alive = self._sessions.get(session.id, user_id=principal.user_id, server_id=session.server_id)
                if alive is not session:
                    return
                await _chunk(send, KEEPALIVE)
        finally:
            gone.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gone

    async def _hear_posts(self, session: Session) -> Subscription | None:
        if self.relay is None:
            return None

        async def take(body: dict) -> None:
            principal = _principal_from(body.get("principal"))
            messages = body.get("messages")
            if principal is None or principal.user_id != session.user_id or not isinstance(messages, list):
                return
            for msg in messages:
                if isinstance(msg, dict) and jsonrpc.envelope_problem(msg) is None:
                    await self._take(msg, session, principal)

        return await self.relay.hear_posts(session.id, take)

    async def _end(self, session: Session) -> None:
        work = self._work.pop(session.id, {})
        for task in work.values():
            task.cancel()
        for task in list(work.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._sessions.delete(session.id)

    # -- messages ------------------------------------------------------------

    async def _post(
        self, scope, receive, send, headers: dict[str, str], server_id: str, principal: Principal
    ) -> None:
        session_id = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_id") or [""])[0]
        if not session_id:
            return await reply(
                send, 400, jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "session_id is required")
            )
        session = self._sessions.get(session_id, user_id=principal.user_id, server_id=server_id)
        here = session is not None and session.id in self._work
        if not here and not await self._held_elsewhere(session_id, principal, server_id):
            return await reply(send, 404, _NOT_FOUND)
        parsed = await read_message(
            receive, send, self._settings.max_message_bytes, self._settings.max_batch_messages
        )
        if parsed is ANSWERED:
            return
        messages = parsed if isinstance(parsed, list) else [parsed]
        for msg in messages:
            problem = jsonrpc.envelope_problem(msg)
            if problem is not None:
                return await reply(
                    send, 400, jsonrpc.error(jsonrpc.readable_id(msg), jsonrpc.INVALID_REQUEST, problem)
                )
            refused = self._gate.refusal_of(scope, headers, principal, msg)
            if refused is not None:  # answered on the POST itself: an HTTP-level refusal
                return await refused.send(send, msg["id"])
        if not here:
            body = {"principal": _principal_record(principal), "messages": messages}
            if not await self.relay.post_elsewhere(session_id, body):
                self._elsewhere.pop(session_id, None)
                return await reply(send, 404, _NOT_FOUND)  # its stream is gone
            return await reply(send, 202, None)
        await reply(send, 202, None)
        for msg in messages:
            await self._take(msg, session, principal)

    async def _held_elsewhere(self, session_id: str, principal: Principal, server_id: str) -> bool:
        """Whether another replica may hold the session's stream (its record says it is this
        caller's, on this server path)."""
        if self.relay is None:
            return False
        owner = (principal.user_id, server_id)
        known = self._elsewhere.get(session_id)
        if known is not None:
            return known == owner
        if not await self._sessions.recorded(session_id, user_id=principal.user_id, server_id=server_id):
            return False
        if len(self._elsewhere) >= _ELSEWHERE_LIMIT:
            self._elsewhere.pop(next(iter(self._elsewhere)))  # the oldest
        self._elsewhere[session_id] = owner
        return True

    async def _take(self, msg: dict, session: Session, principal: Principal) -> None:
        if jsonrpc.is_response(msg):
            return await self._dispatcher.deliver(msg, session)
        if jsonrpc.is_notification(msg):
            await self._dispatcher.notify(msg, session)
            if msg["method"] == "notifications/cancelled":
                task = self._work.get(session.id, {}).get((msg.get("params") or {}).get("requestId"))
                if task is not None:
                    task.cancel()
            return
        work = self._work.get(session.id)
        if work is None:
            return
        task = asyncio.create_task(self._answer(msg, session, principal), name=f"legacy {msg['method']}")
        work[msg["id"]] = task
        task.add_done_callback(lambda _t, id_=msg["id"]: work.pop(id_, None))

    async def _answer(self, msg: dict, session: Session, principal: Principal) -> None:
        try:
            if msg["method"] == "initialize":
                answer = await self._initialize(msg, session)
            else:
                ctx = CallContext(principal, session.server_id, session.protocol_version, session)
                answer = await self._dispatcher.handle(msg, ctx)
            if isinstance(answer, Relay):
                try:
                    async for message in answer:
                        await session.outbox.put(message)
                except SwitchboardError as exc:
                    await session.outbox.put(jsonrpc.error(msg["id"], status_of(exc)[2], exc.message))
            elif answer is not None:
                await session.outbox.put(answer)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("legacy SSE request failed")
            await session.outbox.put(jsonrpc.error(msg["id"], jsonrpc.INTERNAL_ERROR, "Internal error"))

    async def _initialize(self, msg: dict, session: Session) -> dict:
        params = msg.get("params")
        if not isinstance(params, dict) or not isinstance(params.get("protocolVersion"), str):
            return jsonrpc.error(
                msg["id"], jsonrpc.INVALID_PARAMS, "initialize needs params with a protocolVersion string"
            )
        problem = state_problem(params, self._settings.max_session_state_bytes)
        if problem is not None:
            return jsonrpc.error(msg["id"], jsonrpc.INVALID_PARAMS, problem)
        result = self._dispatcher.initialize_result(params)
        if params["protocolVersion"] == versions.LEGACY_SSE:
            result = {**result, "protocolVersion": versions.LEGACY_SSE}
        session.protocol_version = result["protocolVersion"]
        session.client_info = params.get("clientInfo") or {}
        session.client_capabilities = params.get("capabilities") or {}
        return jsonrpc.result(msg["id"], result)


_ELSEWHERE_LIMIT = 10_000
_NOT_FOUND = jsonrpc.error(None, jsonrpc.INVALID_REQUEST, "Session not found")


def _principal_record(principal: Principal) -> str:
    """The caller, as a relayed POST carries it: its proto (memberships and token limits
    included), base64 in the JSON body."""
    return base64.b64encode(principal.to_proto().SerializeToString()).decode()


def _principal_from(record: object) -> Principal | None:
    """The caller a relayed POST came from (checked by the replica it reached)."""
    if not isinstance(record, str):
        return None
    try:
        return Principal.from_proto(auth_pb2.Principal.FromString(base64.b64decode(record, validate=True)))
    except (binascii.Error, DecodeError):
        return None


def _event(message: dict) -> bytes:
    try:
        return sse.encode(orjson.dumps(message))
    except orjson.JSONEncodeError:
        # orjson reads 1024 levels of nesting but writes only 254: an upstream answer can exceed that.
        error = jsonrpc.error(
            jsonrpc.readable_id(message), jsonrpc.INTERNAL_ERROR, "answer nests too deeply to relay"
        )
        return sse.encode(orjson.dumps(error))


async def _chunk(send, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})
