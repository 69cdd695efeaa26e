"""A pass run every so often on the one replica holding a lease (always, embedded).

Retention and the hourly rollups are such passes. A pass that fails is logged and the
next one comes at its time. A pass is never cancelled in the middle of a statement
(which left an aiosqlite thread calling into a closed loop): when the lease is lost or
the job stops, the pass under way is left to finish, within a grace period on stop, and
a long one ends early where it can, between transactions, once `winding_down` says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from switchboard_core.counters import COUNTERS
from switchboard_core.shared.leader import AlwaysLeader, Leadership
from switchboard_core.shared.redis_client import cancel_until_done

logger = logging.getLogger(__name__)

STOP_GRACE_S = 5.0


class LeaderPeriodic:
    def __init__(
        self, lease: str, one_pass: Callable[[], Awaitable[object]], *, interval_s: float, counter: str
    ) -> None:
        self.lease = lease
        self._one_pass = one_pass
        self._interval_s = interval_s
        self._counter = counter
        self._task: asyncio.Task | None = None
        self._pass: asyncio.Future | None = None
        # Passes begun here (the process-wide count is the counter `counter`).
        self.passes = 0
        self._winding_down = False

    @property
    def winding_down(self) -> bool:
        """True once the job was stopped or lost its lease while a pass was under way."""
        return self._winding_down

    def start(self, leadership: Leadership | None = None) -> None:
        """Run passes in the background whenever this replica leads (None: the only replica)."""
        if self._task is None:
            leading = (leadership or AlwaysLeader()).run_while_leader(self.lease, self._run)
            self._task = asyncio.create_task(leading, name=f"metrics {self.lease}")

    async def stop(self) -> None:
        self._winding_down = True
        task, self._task = self._task, None
        # Leading talks to Redis, where a cancellation can be lost: cancelled until it ends
        # (CI: a stop waited for ever after a Redis timeout moved the lease).
        await cancel_until_done(task)
        if self._pass is not None and not self._pass.done():
            await asyncio.wait([self._pass], timeout=STOP_GRACE_S)

    async def _run(self) -> None:
        self._winding_down = False
        try:
            while True:
                self.passes += 1
                COUNTERS.add(self._counter)
                try:
                    self._pass = asyncio.ensure_future(self._one_pass())
                    await asyncio.shield(self._pass)
                except Exception:
                    # Top of a background task: a failed pass must not end the job for good.
                    logger.exception("metrics %s pass failed; retrying in %gs", self.lease, self._interval_s)
                await asyncio.sleep(self._interval_s)
        finally:
            self._winding_down = True
