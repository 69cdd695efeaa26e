"""Parked calls of stateless clients: found only by their own caller and call, answered
in full or not at all, and ended (upstream told, stream closed) when nobody resumes them."""

from __future__ import annotations

import asyncio

from switchboard_proxy.input_rounds import InputRounds, Parked
from switchboard_proxy.sessions import Session


class _Upstream:
    def __init__(self) -> None:
        self.delivered: list[dict] = []
        self.closed = asyncio.Event()

    async def deliver(self, message: dict, _session: Session) -> None:
        self.delivered.append(message)

    async def messages(self):
        try:
            yield {"jsonrpc": "2.0", "id": "sb-1", "method": "sampling/createMessage", "params": {}}
            await asyncio.Event().wait()
            yield {}
        finally:
            self.closed.set()


async def _parked(upstream: _Upstream, rounds: InputRounds) -> tuple[str, Parked]:
    messages = upstream.messages()
    await anext(messages)
    parked = Parked(
        "user-1",
        "server-1",
        "tools/call",
        "sample",
        messages,
        Session("s", "user-1", "server-1", "2026-07-28", stateless=True),
        {"sb-1": {"method": "sampling/createMessage", "params": {}}},
    )
    state = rounds.park(parked)
    assert state is not None
    return state, parked


async def test_only_the_same_caller_and_call_find_a_parked_call() -> None:
    upstream = _Upstream()
    rounds = InputRounds(upstream.deliver, ttl_s=60)
    state, parked = await _parked(upstream, rounds)
    key = {"user_id": "user-1", "server_id": "server-1", "method": "tools/call", "target": "sample"}
    assert rounds.find(state, **key) is parked
    for changed in ({"user_id": "user-2"}, {"server_id": ""}, {"method": "prompts/get"}, {"target": "echo"}):
        assert rounds.find(state, **{**key, **changed}) is None
    assert rounds.find(state + "x", **key) is None
    assert rounds.find(None, **key) is None
    await rounds.close()


async def test_answers_must_cover_every_request_asked() -> None:
    upstream = _Upstream()
    rounds = InputRounds(upstream.deliver, ttl_s=60)
    _, parked = await _parked(upstream, rounds)
    assert "sb-1" in rounds.misfit(parked, {})
    assert rounds.misfit(parked, {"sb-1": "not an object"}) is not None
    assert rounds.misfit(parked, None) is not None
    assert rounds.misfit(parked, {"sb-1": {"role": "assistant"}}) is None
    await rounds.answer(parked, {"sb-1": {"role": "assistant"}})
    assert upstream.delivered == [{"jsonrpc": "2.0", "id": "sb-1", "result": {"role": "assistant"}}]
    await rounds.close()


async def test_a_call_nobody_resumes_is_ended_and_the_upstream_told() -> None:
    upstream = _Upstream()
    rounds = InputRounds(upstream.deliver, ttl_s=0.05)
    state, _ = await _parked(upstream, rounds)
    async with asyncio.timeout(5):
        await upstream.closed.wait()
    [told] = upstream.delivered
    assert told["id"] == "sb-1" and "did not answer" in told["error"]["message"]
    assert len(rounds) == 0
    assert (
        rounds.find(state, user_id="user-1", server_id="server-1", method="tools/call", target="sample")
        is None
    )


async def test_a_resumed_call_does_not_expire() -> None:
    upstream = _Upstream()
    rounds = InputRounds(upstream.deliver, ttl_s=0.05)
    state, _ = await _parked(upstream, rounds)
    rounds.resume(state)
    await asyncio.sleep(0.2)  # past the TTL: nothing may fire
    assert upstream.delivered == [] and not upstream.closed.is_set()


async def test_parking_is_bounded() -> None:
    upstream = _Upstream()
    rounds = InputRounds(upstream.deliver, ttl_s=60, limit=1)
    await _parked(upstream, rounds)
    extra = Parked("u", "s", "tools/call", "t", upstream.messages(), Session("x", "u", "s", "2026-07-28"), {})
    assert rounds.park(extra) is None
    await rounds.close()
