"""How long an upstream may stay silent while it answers a request.

Silence past the upstream timeout means it is gone, except while it waits on the
client: a request it sent the client mid-call (an elicitation a human answers, a
sampling, a roots listing) may take minutes, and the upstream rightly says nothing
until it has the answer. So while any such request is unanswered the upstream
timeout is replaced by `answer_wait_s` (the proxy's `SWITCHBOARD_INPUT_WAIT_S`, 300 s by
default: a client that never answers must not hold the call, and the upstream, for
ever), and it counts again, whole, from the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

ANSWER_WAIT_S = 300.0


class ClientDidNotAnswer(TimeoutError):
    """The client left a request of the upstream's unanswered past `answer_wait_s`."""


class SilenceLimit:
    def __init__(self, timeout_s: float, answer_wait_s: float = ANSWER_WAIT_S) -> None:
        self._timeout_s = timeout_s
        self.answer_wait_s = answer_wait_s
        # Ids of requests the upstream sent the client, not answered yet.
        self._asked: set[Any] = set()
        self._scope: asyncio.Timeout | None = None

    @property
    def waiting_on_client(self) -> bool:
        return bool(self._asked)

    def asked(self, request_id: Any) -> None:
        """The upstream sent the client a request: wait up to `answer_wait_s` for its answer."""
        first = not self._asked
        self._asked.add(request_id)
        if first:
            self._reschedule(asyncio.get_running_loop().time() + self.answer_wait_s)

    def answered(self, request_id: Any) -> None:
        """The client's answer went to the upstream: its silence counts from now."""
        if request_id not in self._asked:
            return
        self._asked.discard(request_id)
        if not self._asked:
            self._reschedule(asyncio.get_running_loop().time() + self._timeout_s)

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """What `awaitable` gives; TimeoutError when the upstream stays silent too long."""
        asked = bool(self._asked)
        try:
            async with asyncio.timeout(self.answer_wait_s if asked else self._timeout_s) as scope:
                self._scope = scope
                try:
                    return await awaitable
                finally:
                    self._scope = None
        except TimeoutError as exc:
            if self._asked:
                raise ClientDidNotAnswer(
                    f"the client did not answer the upstream's request within {self.answer_wait_s:g}s"
                ) from exc
            raise

    def _reschedule(self, when: float | None) -> None:
        scope = self._scope
        if scope is not None and not scope.expired():
            scope.reschedule(when)
