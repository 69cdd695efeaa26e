"""How long an upstream may stay silent while it answers a request.

Silence past the upstream timeout means it is gone, except while it waits on the
client: a request it sent the client mid-call (an elicitation a human answers, a
sampling, a roots listing) may take minutes, and the upstream rightly says nothing
until it has the answer. So the limit holds while any such request is unanswered and
counts again, whole, from the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class SilenceLimit:
    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        # Ids of requests the upstream sent the client, not answered yet.
        self._asked: set[Any] = set()
        self._scope: asyncio.Timeout | None = None

    @property
    def waiting_on_client(self) -> bool:
        return bool(self._asked)

    def asked(self, request_id: Any) -> None:
        """The upstream sent the client a request: wait for its answer without a limit."""
        self._asked.add(request_id)
        self._reschedule(None)

    def answered(self, request_id: Any) -> None:
        """The client's answer went to the upstream: its silence counts from now."""
        if request_id not in self._asked:
            return
        self._asked.discard(request_id)
        if not self._asked:
            self._reschedule(asyncio.get_running_loop().time() + self._timeout_s)

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """What `awaitable` gives; TimeoutError when the upstream stays silent too long."""
        async with asyncio.timeout(None if self._asked else self._timeout_s) as scope:
            self._scope = scope
            try:
                return await awaitable
            finally:
                self._scope = None

    def _reschedule(self, when: float | None) -> None:
        scope = self._scope
        if scope is not None and not scope.expired():
            scope.reschedule(when)
