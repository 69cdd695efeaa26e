"""One POST of the stateless MCP revision (2026-07-28) at `/mcp` and `/servers/{id}/mcp`.

No initialize and no session: each request carries its own envelope in
`params._meta` and mirrors its method (and name) in headers. After the ladder in
`stateless_rules`, `server/discover` and `subscriptions/listen` are answered here,
calls that may need the client's input (`tools/call`, `prompts/get`,
`resources/read`) go to `stateless_calls`, and every other method to the
`Dispatcher` without a session. Answers are 2025-era upstream results, reshaped
for 2026-07-28 on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from switchboard_core.errors import SwitchboardError, status_of
from switchboard_core.principals import Principal
from switchboard_mcp import jsonrpc, sse, versions
from switchboard_mcp import stateless_wire as wire

from switchboard_proxy import open_streams
from switchboard_proxy import stateless_rules as rules
from switchboard_proxy.dispatch import SERVER_INFO, CallContext, Dispatcher
from switchboard_proxy.forward import Relay
from switchboard_proxy.http_replies import (
    KEEPALIVE,
    KEEPALIVE_S,
    SSE_HEADERS,
    reply,
    wait_for_disconnect,
)
from switchboard_proxy.input_rounds import InputRounds
from switchboard_proxy.listen_streams import ListenStream, ListenStreams, requested_resources
from switchboard_proxy.stateless_calls import METHODS as INTERACTIVE
from switchboard_proxy.stateless_calls import InteractiveCalls

# Change notifications and resource updates ride listen streams (which is what
# `listChanged` and `resources.subscribe` mean at this revision); no `logging`:
# log messages are asked per request, with `logLevel`.
CAPABILITIES = {
    "tools": {"listChanged": True},
    "prompts": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "completions": {},
}
# Notifications that may accompany a response on its own stream at this revision.
_REQUEST_STREAM_NOTIFICATIONS = frozenset({"notifications/progress", "notifications/message"})


class StatelessExchange:
    def __init__(self, dispatcher: Dispatcher, listens: ListenStreams, rounds: InputRounds) -> None:
        self._dispatcher = dispatcher
        self._listens = listens
        self.calls = InteractiveCalls(dispatcher, rounds)

    async def serve(
        self, scope, receive, send, headers: dict[str, str], msg: dict, server_id: str, principal: Principal
    ) -> None:
        if "method" not in msg:
            return await reply(
                send,
                400,
                jsonrpc.error(
                    None,
                    jsonrpc.INVALID_REQUEST,
                    "Body must be a single JSON-RPC request or notification object",
                ),
            )
        if "id" not in msg:
            # Nothing to act on: the revision cancels by closing the response stream.
            rejection = rules.unsupported_version(headers.get(rules.PROTOCOL_VERSION_HEADER))
            if rejection is not None:
                return await reply(send, rejection.status, rejection.reply(None))
            return await reply(send, 202, None)
        id_, method = msg["id"], msg["method"]
        if method == "subscriptions/listen" and not _accepts_sse(headers.get("accept")):
            return await reply(send, 406, None)
        verdict = rules.classify(msg, headers)
        if isinstance(verdict, rules.Rejection):
            return await reply(send, verdict.status, verdict.reply(id_))
        if method not in rules.METHODS:
            return await reply(
                send, 404, jsonrpc.error(id_, jsonrpc.METHOD_NOT_FOUND, "Method not found", method)
            )
        if method in ("server/discover", "subscriptions/listen"):
            try:
                # An unknown server fails here rather than on the first list.
                await self._dispatcher.catalogs.get(server_id)
            except SwitchboardError as exc:
                code = status_of(exc)
                return await reply(send, code[0], jsonrpc.error(id_, code[2], exc.message))
            if method == "server/discover":
                return await reply(send, 200, jsonrpc.result(id_, discover_result()))
            listener = CallContext(principal, server_id, verdict.protocol_version, None)
            return await self._listen(receive, send, id_, msg["params"], listener)
        if method in INTERACTIVE:
            return await self.calls.serve(scope, send, msg, verdict, server_id, principal)
        ctx = CallContext(principal, server_id, verdict.protocol_version, None)
        answer = await self._dispatcher.handle(rules.for_upstream(msg), ctx)
        if isinstance(answer, Relay):
            with open_streams.held(open_streams.POST):
                return await _stream_relay(answer, method, id_, send)
        await reply(send, rules.http_status(answer), rules.as_stateless_reply(method, answer, SERVER_INFO))

    async def _listen(self, receive, send, id_, params: dict, ctx: CallContext) -> None:
        requested = params.get("notifications")
        if not isinstance(requested, dict):
            return await reply(
                send,
                400,
                jsonrpc.error(
                    id_, jsonrpc.INVALID_PARAMS, "subscriptions/listen needs a notifications filter"
                ),
            )
        resources = [
            uri for uri in requested_resources(requested) if await self._dispatcher.watch_resource(ctx, uri)
        ]
        server_id = ctx.server_id
        stream = self._listens.open(id_, server_id, requested, resources)
        try:
            await _stream_listen(stream, receive, send)
        finally:
            self._listens.discard(stream)
            for uri in stream.resources:
                await self._dispatcher.unwatch_resource(server_id, uri, stream)


def discover_result() -> dict:
    return rules.as_stateless_result(
        "server/discover",
        {"supportedVersions": list(versions.ADVERTISED), "capabilities": CAPABILITIES},
        SERVER_INFO,
    )


def _accepts_sse(accept: str | None) -> bool:
    if accept is None:
        return True
    accept = accept.lower()
    return any(kind in accept for kind in ("text/event-stream", "*/*", "text/*"))


def _event(message: dict) -> dict:
    return {"type": "http.response.body", "body": sse.encode(orjson.dumps(message)), "more_body": True}


async def _stream_relay(relay: Relay, method: str, client_id, send) -> None:
    """A streamed answer: progress and log messages as they come, the response last."""
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    try:
        async for message in relay:
            if "method" in message:
                if message["method"] in _REQUEST_STREAM_NOTIFICATIONS:
                    await send(_event(message))
                continue
            await send(_event(rules.as_stateless_reply(method, message, SERVER_INFO)))
    except SwitchboardError as exc:
        await send(_event(jsonrpc.error(client_id, status_of(exc)[2], exc.message)))
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _stream_listen(stream: ListenStream, receive, send) -> None:
    """The listen stream: the acknowledgement first, then each notification the
    client opted in to, until it goes away or the gateway closes the stream (then
    the listen result, which tells the client the end was deliberate)."""
    meta = {wire.SUBSCRIPTION_ID_META_KEY: stream.subscription_id}
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    await send(
        _event(
            jsonrpc.notification(
                "notifications/subscriptions/acknowledged", {"notifications": stream.honored, "_meta": meta}
            )
        )
    )
    gone = asyncio.create_task(wait_for_disconnect(receive))
    try:
        while not gone.done():
            getter = asyncio.ensure_future(stream.queue.get())
            await asyncio.wait({getter, gone}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED)
            if not getter.done():
                getter.cancel()
                if not gone.done():
                    await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
                continue
            notification = getter.result()
            if notification is None:
                final = rules.as_stateless_result("subscriptions/listen", {"_meta": meta}, SERVER_INFO)
                await send(_event(jsonrpc.result(stream.subscription_id, final)))
                break
            params = {**(notification.get("params") or {}), "_meta": meta}
            await send(_event(jsonrpc.notification(notification["method"], params)))
    except OSError:
        pass
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "http.response.body", "body": b"", "more_body": False})
