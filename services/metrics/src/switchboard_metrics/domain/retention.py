"""Retention: records older than the retention period are deleted in the background.

One replica prunes for all: the pruner runs while its replica holds the lease
`retention` (`shared.leader`; always, embedded). Were two to run at once (a lease lost
to a Redis outage while a delete is under way) nothing breaks: deleting deleted rows is
harmless, and each delete is a short transaction of a bounded number of rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from switchboard_core.shared.leader import Leadership

from switchboard_metrics.domain.invocations import now_ms
from switchboard_metrics.domain.periodic import LeaderPeriodic

logger = logging.getLogger(__name__)

DAY_MS = 24 * 3600 * 1000
PRUNE_INTERVAL_S = 600.0
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
        self._clock = clock
        self._job = LeaderPeriodic(
            LEASE, self.prune_once, interval_s=interval_s, counter="metrics.retention_passes"
        )

    async def prune_once(self) -> int:
        """Delete what has expired by now; returns how many records went."""
        deleted = await self._records.delete_started_before(self._clock() - self._retention_ms)
        if deleted:
            logger.info("retention deleted %d invocation records", deleted)
        return deleted

    def start(self, leadership: Leadership | None = None) -> None:
        """Prune in the background whenever this replica leads (None: the only replica)."""
        self._job.start(leadership)

    async def stop(self) -> None:
        await self._job.stop()
