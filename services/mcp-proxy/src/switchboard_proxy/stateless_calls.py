"""The calls of stateless clients (2026-07-28) that may need the client's input:
`tools/call`, `prompts/get` and `resources/read`.

A call is forwarded like any other; its answer, when the upstream streams, is read
here. Progress and the log messages at or above the request's `logLevel` go to the
client as they come; a request the upstream sends the client (sampling, elicitation,
roots) ends this POST with `input_required` and parks the call (`input_rounds`); the
client's retry with its answers resumes it, on a new POST, until the final result.
A retry reaching a replica other than the one that parked the call is resumed there,
its messages relayed back (`round_relay`).

A client declaring none of sampling, elicitation and roots is never asked: its
calls run on the shared upstream sessions and whatever an upstream asks it is
refused at once. A client declaring some gets upstream sessions that declare the
same (shared by every stateless client declaring the same), so upstreams ask only
what it can answer.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from switchboard_core.errors import SwitchboardError, status_of
from switchboard_core.policy import decide
from switchboard_core.principals import Principal
from switchboard_mcp import input_required, jsonrpc, param_headers, sse
from switchboard_mcp.stateless_wire import HEADER_MISMATCH, LOG_LEVEL_META_KEY, NAME_BEARING_METHODS

from switchboard_proxy import stateless_rules as rules
from switchboard_proxy.client_upstreams import ANSWERING_CAPABILITIES
from switchboard_proxy.dispatch import SERVER_INFO, CallContext, Dispatcher
from switchboard_proxy.forward import Relay
from switchboard_proxy.http_replies import SSE_HEADERS, reply
from switchboard_proxy.input_rounds import NEEDS, InputRounds, Parked
from switchboard_proxy.round_relay import RoundRelay
from switchboard_proxy.sessions import Session

METHODS = frozenset(NAME_BEARING_METHODS)
# Severity ascending (RFC 5424), as `logLevel` and `notifications/message` name them.
LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


@dataclasses.dataclass(slots=True)
class Retry:
    """A request carrying `requestState`: all it takes to resume the parked call, on
    whichever replica parked it."""

    id: Any
    method: str
    target: Any
    state: Any
    answers: Any
    user_id: str
    server_id: str
    log_level: Any = None

    @classmethod
    def from_record(cls, record: dict) -> Retry | None:
        try:
            return cls(**record)
        except TypeError:
            return None


class InteractiveCalls:
    def __init__(self, dispatcher: Dispatcher, rounds: InputRounds) -> None:
        self._dispatcher = dispatcher
        self._rounds = rounds
        # Set when replicas share sessions: retries of calls parked elsewhere go through it.
        self.relay: RoundRelay | None = None

    async def serve(
        self, scope, send, msg: dict, envelope: rules.Envelope, server_id: str, principal: Principal
    ) -> None:
        id_, method, params = msg["id"], msg["method"], msg["params"]
        target = params.get(NAME_BEARING_METHODS[method])
        if method == "tools/call":
            mismatch = await self._param_mismatch(server_id, params, scope["headers"], principal)
            if mismatch is not None:
                return await reply(send, 400, jsonrpc.error(id_, HEADER_MISMATCH, mismatch.message))
        level = params["_meta"].get(LOG_LEVEL_META_KEY)
        state = params.get("requestState")
        if state is not None:
            retry = Retry(
                id_, method, target, state, params.get("inputResponses"), principal.user_id, server_id, level
            )
            resumed = await self._resume(retry)
            if isinstance(resumed, dict):
                return await reply(send, 400, resumed)
            return await _stream(send, resumed)
        session = _answering_session(envelope, principal, server_id)
        forwarded = rules.for_upstream(msg)
        forwarded["params"].pop("inputResponses", None)
        ctx = CallContext(principal, server_id, envelope.protocol_version, session)
        answer = await self._dispatcher.handle(forwarded, ctx)
        if not isinstance(answer, Relay):
            return await reply(
                send, rules.http_status(answer), rules.as_stateless_reply(method, answer, SERVER_INFO)
            )
        call = _Call(id_, method, _log_levels(level))
        await _stream(
            send, self._outgoing(call, aiter(answer), session, principal.user_id, server_id, target)
        )

    async def _resume(self, retry: Retry) -> dict | AsyncGenerator[dict, None]:
        """The resumed call's messages for the retry's POST, or the refusal to answer with."""
        holder = self._rounds.holder(retry.state)
        if self.relay is None or holder is None or holder == self.relay.replica:
            return await self.resume_here(retry)
        resumed = await self.relay.resume_elsewhere(holder, dataclasses.asdict(retry))
        return _stale(retry.id) if resumed is None else resumed

    async def resume_relayed(self, record: dict) -> dict | AsyncGenerator[dict, None]:
        """A retry another replica got for a call parked here."""
        retry = Retry.from_record(record)
        if retry is None:
            return _stale(record.get("id"))
        return await self.resume_here(retry)

    async def resume_here(self, retry: Retry) -> dict | AsyncGenerator[dict, None]:
        parked = self._rounds.find(
            retry.state,
            user_id=retry.user_id,
            server_id=retry.server_id,
            method=retry.method,
            target=retry.target,
        )
        if parked is None:
            return _stale(retry.id)
        problem = self._rounds.misfit(parked, retry.answers)
        if problem is not None:
            return jsonrpc.error(retry.id, jsonrpc.INVALID_PARAMS, problem)
        self._rounds.resume(retry.state)
        await self._rounds.answer(parked, retry.answers)
        call = _Call(retry.id, retry.method, _log_levels(retry.log_level))
        return self._outgoing(
            call, parked.messages, parked.session, retry.user_id, retry.server_id, retry.target
        )

    async def _param_mismatch(
        self, server_id: str, params: dict, raw_headers, principal: Principal
    ) -> param_headers.Mismatch | None:
        try:
            binding = (await self._dispatcher.catalogs.get(server_id)).tools_by_name.get(params.get("name"))
        except SwitchboardError:
            return None  # the dispatcher answers for an unknown server
        if binding is None or not binding.param_headers:
            return None
        if not decide(principal, "tools.execute", binding.access):
            return None  # the dispatcher refuses the call, saying no more than it may
        return param_headers.check(binding.param_headers, params.get("arguments"), raw_headers)

    async def _outgoing(
        self,
        call: _Call,
        messages: AsyncIterator[dict],
        session: Session | None,
        user_id: str,
        server_id: str,
        target: Any,
    ) -> AsyncGenerator[dict, None]:
        """This POST's share of the call, as the messages to send its client: until the
        final answer, or until the call asks the client (then parked again)."""
        parked = False
        try:
            while True:
                message = await anext(messages, None)
                if message is None:
                    yield jsonrpc.error(
                        call.id, jsonrpc.INTERNAL_ERROR, "the upstream ended without answering"
                    )
                    break
                if "method" not in message:
                    yield rules.as_stateless_reply(call.method, {**message, "id": call.id}, SERVER_INFO)
                    break
                if "id" not in message:
                    if call.passes(message):
                        yield message
                    continue
                if not _may_ask(session, message["method"]):
                    await self._dispatcher.deliver(
                        jsonrpc.error(
                            message["id"],
                            jsonrpc.METHOD_NOT_FOUND,
                            f"{message['method']} is not available to this client",
                        ),
                        session,
                    )
                    continue
                asked = {message["id"]: {"method": message["method"], "params": message.get("params") or {}}}
                state = self._rounds.park(
                    Parked(user_id, server_id, call.method, target, messages, session, asked)
                )
                if state is None:
                    yield jsonrpc.error(call.id, jsonrpc.INTERNAL_ERROR, "too many calls wait for input")
                    break
                parked = True
                result = rules.as_stateless_result(
                    call.method, input_required.result(asked, state), SERVER_INFO
                )
                yield jsonrpc.result(call.id, result)
                break
        except SwitchboardError as exc:
            yield jsonrpc.error(call.id, status_of(exc)[2], exc.message)
        finally:
            if not parked:
                await messages.aclose()


class _Call:
    """One POST of a call: the client's id for it, its method, the log levels it wants."""

    __slots__ = ("id", "method", "_levels")

    def __init__(self, id_, method: str, levels: frozenset[str]) -> None:
        self.id = id_
        self.method = method
        self._levels = levels

    def passes(self, notification: dict) -> bool:
        if notification["method"] == "notifications/progress":
            return True
        if notification["method"] == "notifications/message":
            return (notification.get("params") or {}).get("level") in self._levels
        return False


_STALE = "requestState is unknown or has expired: send the request again without it"


def _stale(id_) -> dict:
    return jsonrpc.error(id_, jsonrpc.INVALID_PARAMS, _STALE)


async def _stream(send, messages: AsyncGenerator[dict, None]) -> None:
    """A POST's share of a call as SSE, its last message the final answer or a new round."""
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    try:
        async for message in messages:
            await send(_event(message))
    finally:
        await messages.aclose()
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def _log_levels(requested: object) -> frozenset[str]:
    """No log messages unless the request asks, then its level and above."""
    if requested not in LOG_LEVELS:
        return frozenset()
    return frozenset(LOG_LEVELS[LOG_LEVELS.index(requested) :])


def _answering_session(envelope: rules.Envelope, principal: Principal, server_id: str) -> Session | None:
    capabilities = envelope.client_capabilities if isinstance(envelope.client_capabilities, dict) else {}
    answering = {k: v for k, v in capabilities.items() if k in ANSWERING_CAPABILITIES and isinstance(v, dict)}
    if not answering:
        return None
    return Session(
        secrets.token_urlsafe(12),
        principal.user_id,
        server_id,
        envelope.protocol_version,
        client_capabilities=answering,
        stateless=True,
    )


def _may_ask(session: Session | None, method: str) -> bool:
    need = NEEDS.get(method)
    return session is not None and need is not None and need in session.client_capabilities


def _event(message: dict) -> dict:
    return {"type": "http.response.body", "body": sse.encode(orjson.dumps(message)), "more_body": True}
