"""Retention: records older than the retention period are deleted in the background.

One replica prunes for all: the pruner runs while its replica holds the lease
`retention` (`shared.leader`; always, embedded). Were two to run at once (a lease lost
to a Redis outage while a delete is under way) nothing breaks: deleting deleted rows is
harmless, and each delete is a short transaction of a bounded number of rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from switchboard_core.counters import COUNTERS
from switchboard_core.shared.leader import AlwaysLeader, Leadership

from switchboard_metrics.domain.invocations import now_ms

logger = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
PRUNE_INTERVAL_S = 600.0
STOP_GRACE_S = 5.0
LEASE = "retention"


class ExpiringRecords(Protocol):
    async def delete_started_before(self, cutoff_ms: int) -> int: ...


class RetentionPruner:
    def __init__(
        self,
        records: ExpiringRecords,
        *,
        retention_days: int,
        interval_s: float = PRUNE_INTERVAL_S,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._records = records
        self._retention_ms = retention_days * DAY_MS
        self._interval_s = interval_s
        self._clock = clock
        self._task: asyncio.Task | None = None
        self._pass: asyncio.Future | None = None

    async def prune_once(self) -> int:
        """Delete what has expired by now; returns how many records went."""
        deleted = await self._records.delete_started_before(self._clock() - self._retention_ms)
        if deleted:
            logger.info("retention deleted %d invocation records", deleted)
        return deleted

    def start(self, leadership: Leadership | None = None) -> None:
        """Prune in the background whenever this replica leads (None: the only replica)."""
        if self._task is None:
            leading = (leadership or AlwaysLeader()).run_while_leader(LEASE, self._run)
            self._task = asyncio.create_task(leading, name="metrics-retention")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        # A pass under way finishes (briefly) before the store it uses is closed.
        if self._pass is not None and not self._pass.done():
            await asyncio.wait([self._pass], timeout=STOP_GRACE_S)

    async def _run(self) -> None:
        while True:
            COUNTERS.add("metrics.retention_passes")
            try:
                self._pass = asyncio.ensure_future(self.prune_once())
                await asyncio.shield(self._pass)
            except Exception:
                # Top of a background task: a failed pass must not end retention for good.
                logger.exception("retention pass failed; retrying in %.0fs", self._interval_s)
            await asyncio.sleep(self._interval_s)
