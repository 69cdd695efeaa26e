"""Retries of parked stateless calls handed between replicas over the bus: the holder's
messages come back in order until the final one, a refusal comes back as it is, a
replica nobody listens for (or one fallen silent) counts as an unknown state or an
ended call, and a holder stops a call whose relaying replica went away."""

from __future__ import annotations

import asyncio

import pytest
from switchboard_core.shared.bus import InProcessBus
from switchboard_proxy import round_relay
from switchboard_proxy.input_rounds import InputRounds, Parked
from switchboard_proxy.round_relay import RoundRelay
from switchboard_proxy.sessions import Session

RETRY = {"id": 7, "state": "sbrs1.holder.key"}


class _Holder:
    """What the holding replica resumes: a call of `messages`, then waiting for `go_on`."""

    def __init__(self, messages: list[dict], *, refusal: dict | None = None, hang: bool = False) -> None:
        self.messages = messages
        self.refusal = refusal
        self.hang = hang
        self.retries: list[dict] = []
        self.closed = asyncio.Event()

    async def resume(self, retry: dict):
        self.retries.append(retry)
        if self.refusal is not None:
            return self.refusal
        return self._call()

    async def _call(self):
        try:
            for message in self.messages:
                yield message
            if self.hang:
                await asyncio.Event().wait()
        finally:
            self.closed.set()


async def _replicas(holder: _Holder) -> tuple[InProcessBus, RoundRelay, RoundRelay]:
    bus = InProcessBus()
    holding, relaying = RoundRelay(bus, "holder"), RoundRelay(bus, "other")
    await holding.start(holder.resume)
    await relaying.start(_Holder([]).resume)
    return bus, holding, relaying


async def test_the_holders_messages_come_back_in_order_until_the_final_one() -> None:
    said = [
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": n}} for n in (1, 2, 3)
    ]
    final = {"jsonrpc": "2.0", "id": 7, "result": {"resultType": "complete"}}
    holder = _Holder([*said, final])
    _, holding, relaying = await _replicas(holder)
    async with asyncio.timeout(5):
        resumed = await relaying.resume_elsewhere("holder", RETRY)
        assert [m async for m in resumed] == [*said, final]
        await holder.closed.wait()
    assert holder.retries == [RETRY]
    await relaying.close()
    await holding.close()


async def test_a_refusal_comes_back_as_the_holder_gave_it() -> None:
    refusal = {"jsonrpc": "2.0", "id": 7, "error": {"code": -32602, "message": "inputResponses lacks sb-1"}}
    _, holding, relaying = await _replicas(_Holder([], refusal=refusal))
    async with asyncio.timeout(5):
        assert await relaying.resume_elsewhere("holder", RETRY) == refusal
    await relaying.close()
    await holding.close()


async def test_a_replica_nobody_listens_for_is_an_unknown_state_at_once() -> None:
    _, holding, relaying = await _replicas(_Holder([]))
    async with asyncio.timeout(round_relay.ACCEPT_TIMEOUT_S / 2):
        assert await relaying.resume_elsewhere("gone", RETRY) is None
    await relaying.close()
    await holding.close()


async def test_a_holder_fallen_silent_ends_the_relayed_call_with_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(round_relay, "SILENCE_S", 0.2)
    holder = _Holder([{"jsonrpc": "2.0", "method": "notifications/progress", "params": {}}], hang=True)
    _, holding, relaying = await _replicas(holder)
    async with asyncio.timeout(5):
        resumed = await relaying.resume_elsewhere("holder", RETRY)
        assert "method" in await anext(resumed)
        await holding.close()  # the holder dies mid-call
        ended = await anext(resumed)
        assert ended["id"] == 7 and "stopped answering" in ended["error"]["message"]
        assert [m async for m in resumed] == []
    await relaying.close()


async def test_the_holder_stops_a_call_whose_relaying_replica_went_away() -> None:
    said = [
        {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": n}} for n in range(50)
    ]
    holder = _Holder(said, hang=True)
    _, holding, relaying = await _replicas(holder)
    async with asyncio.timeout(5):
        resumed = await relaying.resume_elsewhere("holder", RETRY)
        await anext(resumed)
        await resumed.aclose()  # the client went away
        await holder.closed.wait()
    await relaying.close()
    await holding.close()


def test_a_state_names_the_replica_that_parked_its_call() -> None:
    assert InputRounds.holder("sbrs1.ab12cd34.secret") == "ab12cd34"
    assert InputRounds.holder("sbrs1.secret") is None  # embedded: no replica
    assert InputRounds.holder("sbrs1..secret") is None
    assert InputRounds.holder("other.ab12cd34.secret") is None
    assert InputRounds.holder(42) is None


async def test_a_call_parked_on_a_replica_gets_a_state_naming_it() -> None:
    rounds = InputRounds(_noop, ttl_s=60, replica="ab12cd34")
    session = Session("s", "user-1", "server-1", "2026-07-28", stateless=True)
    state = rounds.park(Parked("user-1", "server-1", "tools/call", "sample", _nothing(), session, {}))
    assert rounds.holder(state) == "ab12cd34"
    assert rounds.find(state, user_id="user-1", server_id="server-1", method="tools/call", target="sample")
    await rounds.close()


async def _noop(_message: dict, _session) -> None:
    return None


async def _nothing():
    return
    yield
