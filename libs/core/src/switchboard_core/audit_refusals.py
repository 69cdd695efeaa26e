"""Refused attempts at admin changes, recorded in the audit log with outcome `denied`,
without letting a flood of refusals become a flood of writes.

Each service holds one `Refusals`: its HTTP routes record through it what they refuse
(`http.refusals`), the auth service its failed logins. A refusal is recorded only as
`RefusalThrottle` admits it: per actor and action at most `per_key` records each
`window_s`, and at most `per_window` records in all each `window_s`. Those left out are
counted (`audit.refusals_suppressed` in the process counters), and the next record of the
same actor and action says how many of its kind went unrecorded before it
(`changes.suppressed`). The bound is per process: N replicas write at most N times as
many.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from switchboard_core.audit import DENIED, Actor, AuditEvent
from switchboard_core.counters import COUNTERS

SUPPRESSED_COUNTER = "audit.refusals_suppressed"


@dataclass(slots=True)
class _Tally:
    window_start: float
    recorded: int = 0
    suppressed: int = 0


class RefusalThrottle:
    def __init__(
        self,
        *,
        per_key: int = 5,
        per_window: int = 600,
        window_s: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_key = per_key
        self._per_window = per_window
        self._window_s = window_s
        self._max_keys = max_keys
        self._clock = clock
        self._window_start = clock()
        self._recorded = 0
        # Oldest first; only keys that were recorded at least once are kept, so the
        # table grows by at most `per_window` a window, and is cut at `max_keys`.
        self._tallies: dict[Hashable, _Tally] = {}

    def admit(self, key: Hashable) -> int | None:
        """None when this refusal goes unrecorded; else how many of `key` went unrecorded before it."""
        now = self._clock()
        if now - self._window_start >= self._window_s:
            self._window_start, self._recorded = now, 0
        tally = self._tallies.get(key)
        if tally is not None and now - tally.window_start >= self._window_s:
            tally.window_start, tally.recorded = now, 0
        if self._recorded >= self._per_window or (tally is not None and tally.recorded >= self._per_key):
            if tally is not None:
                tally.suppressed += 1
            COUNTERS.add(SUPPRESSED_COUNTER)
            return None
        if tally is None:
            tally = self._tallies[key] = _Tally(now)
            if len(self._tallies) > self._max_keys:
                del self._tallies[next(iter(self._tallies))]
        tally.recorded += 1
        self._recorded += 1
        suppressed, tally.suppressed = tally.suppressed, 0
        return suppressed


class Refusals:
    """Writes `denied` records of one service through `write`, as the throttle admits them."""

    def __init__(
        self,
        write: Callable[[AuditEvent], Awaitable[None]],
        *,
        service: str,
        throttle: RefusalThrottle | None = None,
    ) -> None:
        self._write = write
        self._service = service
        self._throttle = throttle or RefusalThrottle()

    async def refused(
        self,
        actor: Actor,
        action: str,
        entity_id: str,
        *,
        reason: str,
        permission: str = "",
        changes: dict[str, Any] | None = None,
    ) -> None:
        """Record that `actor` was refused `action` (`<entity type>.<verb>`) on `entity_id`."""
        suppressed = self._throttle.admit((actor.user_id or actor.email, action))
        if suppressed is None:
            return
        summary: dict[str, Any] = {"reason": reason, **(changes or {})}
        if permission:
            summary["permission"] = permission
        if suppressed:
            summary["suppressed"] = suppressed
        entity_type = action.partition(".")[0]
        await self._write(
            AuditEvent.of(
                actor, action, entity_type, entity_id, summary, service=self._service, outcome=DENIED
            )
        )
