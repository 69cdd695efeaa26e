"""Calls of stateless clients (2026-07-28) waiting for the client's input.

When an upstream asks the client something mid-call (sampling, elicitation, roots),
a stateless client cannot be sent a request: the gateway answers its POST with
`input_required` instead, naming what the upstream asked, and keeps the upstream
call parked here under a fresh unguessable `requestState`. The client's retry,
carrying its answers and that state, resumes the call where it stopped: the
answers go to the upstream and the call's stream is read on.

The state is only a key into the table of the process that parked the call, never
data the gateway trusts: a retry must come from the same user, on the same server
path, for the same method and target, or it finds nothing. With replicas it names
that process (`sbrs1.<replica>.<key>`), so a retry reaching another replica is handed
to it (`round_relay`). A parked call nobody resumes within the
TTL is ended: the upstream is told the client did not answer, and its stream closed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from switchboard_mcp import jsonrpc

from switchboard_proxy.sessions import Session

logger = logging.getLogger(__name__)

# An upstream request -> the client capability it needs.
NEEDS = {"sampling/createMessage": "sampling", "elicitation/create": "elicitation", "roots/list": "roots"}
STATE_PREFIX = "sbrs1."


@dataclass(eq=False, slots=True)
class Parked:
    user_id: str
    server_id: str
    method: str
    target: str | None
    # The call's messages, read up to the request(s) asked; resumed by the retry.
    messages: AsyncIterator[dict]
    # Routes the client's answers back to the upstream (its `pending` map).
    session: Session
    # Our id of each request asked -> the request as the client sees it.
    asked: dict[str, dict] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


Deliver = Callable[[dict, Session], Awaitable[None]]


class InputRounds:
    def __init__(self, deliver: Deliver, *, ttl_s: float, limit: int = 10_000, replica: str = "") -> None:
        self._deliver = deliver
        self.replica = replica
        self._ttl_s = ttl_s
        self._limit = limit
        self._parked: dict[str, Parked] = {}
        self._endings: set[asyncio.Task] = set()

    def park(self, parked: Parked) -> str | None:
        """Keep `parked` until it is resumed or expires; None when too many are parked."""
        if len(self._parked) >= self._limit:
            return None
        state = STATE_PREFIX + (f"{self.replica}." if self.replica else "") + secrets.token_urlsafe(24)
        parked.timer = asyncio.get_running_loop().call_later(self._ttl_s, self._expire, state)
        self._parked[state] = parked
        return state

    @staticmethod
    def holder(state: object) -> str | None:
        """The replica a state says parked its call, or None when it names none."""
        if not isinstance(state, str) or not state.startswith(STATE_PREFIX):
            return None
        replica, dot, _key = state.removeprefix(STATE_PREFIX).partition(".")
        return replica if dot and replica else None

    def find(
        self, state: object, *, user_id: str, server_id: str, method: str, target: object
    ) -> Parked | None:
        """The call parked under `state`, if this caller may resume it with this request."""
        parked = self._parked.get(state) if isinstance(state, str) else None
        if parked is None:
            return None
        if (parked.user_id, parked.server_id, parked.method, parked.target) != (
            user_id,
            server_id,
            method,
            target,
        ):
            return None
        return parked

    def resume(self, state: str) -> None:
        parked = self._parked.pop(state, None)
        if parked is not None and parked.timer is not None:
            parked.timer.cancel()

    @staticmethod
    def misfit(parked: Parked, answers: object) -> str | None:
        """Why `answers` cannot resume `parked` (an answer missing or not an object), or None."""
        if not isinstance(answers, dict):
            return "a retry carrying requestState needs inputResponses"
        missing = [key for key in parked.asked if not isinstance(answers.get(key), dict)]
        if missing:
            return f"inputResponses lacks an answer for {', '.join(missing)}"
        return None

    async def answer(self, parked: Parked, answers: dict) -> None:
        """Send the client's answers (checked by `misfit`) to the upstream that asked."""
        for key in parked.asked:
            await self._deliver(jsonrpc.result(key, answers[key]), parked.session)

    async def end(self, parked: Parked, reason: str) -> None:
        """Give up on a parked call: its questions answered with an error, its stream closed."""
        for key in parked.asked:
            await self._deliver(jsonrpc.error(key, jsonrpc.INTERNAL_ERROR, reason), parked.session)
        try:
            await parked.messages.aclose()
        except Exception:  # a task's last step: whatever closing the upstream stream raised
            logger.exception("closing a parked call failed")

    def _expire(self, state: str) -> None:
        parked = self._parked.pop(state, None)
        if parked is None:
            return
        logger.info("a call waiting for client input expired after %.0fs", self._ttl_s)
        task = asyncio.create_task(self.end(parked, "the client did not answer in time"))
        self._endings.add(task)
        task.add_done_callback(self._endings.discard)

    async def close(self) -> None:
        parked, self._parked = list(self._parked.values()), {}
        for call in parked:
            if call.timer is not None:
                call.timer.cancel()
            await self.end(call, "the gateway is shutting down")

    def __len__(self) -> int:
        return len(self._parked)
