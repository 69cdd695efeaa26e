"""Forwarding one client request to one upstream and relaying what comes back.

The upstream's answer is peeked at: a lone response (the common case) becomes a
plain JSON reply; anything else (progress, log messages, requests of the upstream's
own such as sampling or elicitation) turns the reply into a `Relay` the endpoint
streams to the client as SSE. Requests the upstream sends are renumbered per client
session, and the mapping kept, so the client's answer finds its way back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from opentelemetry import propagate
from switchboard_mcp import jsonrpc
from switchboard_mcp.upstream import UpstreamSession

from switchboard_proxy.sessions import Session, UpstreamRef

# Called once with the final response, or None and what broke the exchange off (None
# when nothing was raised: the stream ended without an answer).
OnDone = Callable[[dict | None, BaseException | None], None]


class Relay:
    """The messages of one streamed exchange, the response (with the client's id) last."""

    def __init__(
        self,
        first: dict,
        rest: AsyncIterator[dict],
        translate: Callable[[dict], Awaitable[dict | None]],
        finish: Callable[[dict | None, BaseException | None], None],
    ) -> None:
        self._first: dict | None = first
        self._rest = rest
        self._translate = translate
        self._finish = finish

    async def __aiter__(self) -> AsyncIterator[dict]:
        final: dict | None = None
        broken: BaseException | None = None
        try:
            message = self._first
            self._first = None
            while message is not None:
                out = await self._translate(message)
                if out is not None:
                    yield out
                if (
                    out is not None
                    and "method" not in out
                    and out.get("id") is not None
                    and ("result" in out or "error" in out)
                ):
                    final = out
                    return
                message = await anext(self._rest, None)
        except BaseException as exc:
            broken = exc
            raise
        finally:
            await self._rest.aclose()
            self._finish(final, broken)


async def forward(
    upstream: UpstreamSession,
    client_id: Any,
    method: str,
    params: dict | None,
    session: Session | None,
    on_done: OnDone | None = None,
    *,
    traced: bool = True,
    headers: dict[str, str] | None = None,
) -> dict | Relay:
    upstream_id = upstream.next_id()
    if traced:
        headers = dict(headers or {})
        propagate.inject(headers)
    stream = upstream.stream(upstream_id, method, params, extra_headers=headers or None)
    if session is not None:
        session.inflight[client_id] = UpstreamRef(upstream, upstream_id)

    async def translate(message: dict) -> dict | None:
        if "method" in message:
            if "id" not in message:
                return message
            if session is None:
                # Nobody can answer (a sessionless caller): say so rather than let the upstream wait.
                refusal = jsonrpc.error(
                    message["id"],
                    jsonrpc.METHOD_NOT_FOUND,
                    f"{message['method']} is not available to this client",
                )
                await upstream.send(refusal)
                return None
            our_id = session.next_request_id()
            session.pending[our_id] = UpstreamRef(upstream, message["id"])
            return {**message, "id": our_id}
        if message.get("id") == upstream_id:
            return {**message, "id": client_id}
        return None

    def finish(final: dict | None, broken: BaseException | None = None) -> None:
        if session is not None:
            session.inflight.pop(client_id, None)
        if on_done is not None:
            on_done(final, broken)

    try:
        first = await anext(stream)
    except BaseException as exc:
        await stream.aclose()
        finish(None, exc)
        raise
    if "method" not in first and first.get("id") == upstream_id:
        await stream.aclose()
        reply = await translate(first)
        finish(reply)
        return reply
    return Relay(first, stream, translate, finish)


async def final_reply(reply: dict | Relay) -> dict:
    """The response alone, for callers that take no stream (gRPC, /rpc): whatever the
    upstream sent before it is dropped."""
    if isinstance(reply, dict):
        return reply
    final: dict = {}
    async for message in reply:
        final = message
    return final
