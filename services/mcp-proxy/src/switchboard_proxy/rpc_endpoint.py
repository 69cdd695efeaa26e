"""Plain JSON-RPC over HTTP at `/rpc` (every tool the caller may see) and
`/servers/{server_id}/rpc`: one POST, one answer, no session, no stream. Batches are
answered as batches. Requests an upstream would send the client are refused."""

from __future__ import annotations

import asyncio

from switchboard_mcp import jsonrpc, versions

from switchboard_proxy.bearer_gate import BearerGate, Refusal
from switchboard_proxy.dispatch import CallContext, Dispatcher
from switchboard_proxy.forward import final_reply
from switchboard_proxy.http_replies import ANSWERED, read_message, reply


class RpcEndpoint:
    def __init__(
        self, gate: BearerGate, dispatcher: Dispatcher, *, max_message_bytes: int, max_batch_messages: int
    ) -> None:
        self._gate = gate
        self._dispatcher = dispatcher
        self._max_message_bytes = max_message_bytes
        self._max_batch_messages = max_batch_messages

    async def __call__(self, scope, receive, send) -> None:
        if scope["method"] != "POST":
            return await reply(send, 405, None, [(b"allow", b"POST")])
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        server_id = scope.get("path_params", {}).get("server_id", "")
        principal = await self._gate.admit(scope, headers, server_id)
        if isinstance(principal, Refusal):
            return await principal.send(send)
        payload = await read_message(receive, send, self._max_message_bytes, self._max_batch_messages)
        if payload is ANSWERED:
            return
        # A batch holding one request the token may not make is refused whole.
        for message in payload if isinstance(payload, list) else [payload]:
            refused = self._gate.refusal_of(scope, headers, principal, message)
            if refused is not None:
                return await refused.send(send, message["id"] if not isinstance(payload, list) else None)
        ctx = CallContext(principal, server_id, versions.LATEST)
        if isinstance(payload, list):
            answers = [
                a for a in await asyncio.gather(*(self._one(m, ctx) for m in payload)) if a is not None
            ]
            return await reply(send, 200, answers) if answers else await reply(send, 202, None)
        answer = await self._one(payload, ctx)
        await (reply(send, 200, answer) if answer is not None else reply(send, 202, None))

    async def _one(self, message, ctx: CallContext) -> dict | None:
        problem = jsonrpc.envelope_problem(message)
        if problem is not None:
            return jsonrpc.error(
                message.get("id") if isinstance(message, dict) else None, jsonrpc.INVALID_REQUEST, problem
            )
        if not jsonrpc.is_request(message):
            return None
        if message["method"] == "initialize":
            return jsonrpc.result(
                message["id"], self._dispatcher.initialize_result(message.get("params") or {})
            )
        return await final_reply(await self._dispatcher.handle(message, ctx))
