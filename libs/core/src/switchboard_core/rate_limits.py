"""Per-token and per-user request rate limits, decided in-process with no I/O.

A limit is N requests per W seconds (`600/60s`), counted in windows of W seconds
aligned on the epoch (every replica agrees where one ends) and decided on a sliding
window: the requests of the current window plus those of the previous one weighted by
how much of it the last W seconds still cover (`previous × (1 − elapsed/W) + current`).
So a burst across a window's end is refused (fixed windows let 2N through in an
instant there); the estimate takes the previous window's requests as spread evenly
(docs/rate-limits.md says what that costs). Over it, a request is refused with
`RateLimited`, whose `retry_after_s` is the whole seconds until the estimate drops
below N again (what `Retry-After` says). Requests refused are not counted.

`check(principal)` is a few dict operations: the hot path makes no Redis round trip
(docs/architecture.md). Embedded, the process's counts are the whole truth. Across
replicas (distributed mode), each replica counts locally and a background task pushes
what it counted since the last push, every `sync_interval_s`, in one pipelined
`INCRBY` + `PEXPIRE` per key touched (one round trip for all keys), reading back the
total every replica has pushed, this window's and the previous one's (a `GET` in the
same pipeline; counts of a window that ended before they were pushed go at the next
push). A replica decides on those totals plus what it has counted since. So the limit holds across replicas within one sync interval of lag:
the gateway admits at most the limit plus what the other replicas admit in one
interval (plus a round trip), and a replica whose pushes fail (Redis down) falls back
to enforcing the limit on its own traffic alone, pushing its counts when Redis answers
again. A replica with no traffic makes no round trip at all.

Keys are `switchboard:limits:<kind><window>:<id>:<window index>` and expire two
windows after they are made. The budget is the gateway's, not one service's: a user's
requests to the proxy and to the admin APIs count against the same limit, as they do
in embedded mode where one process serves both.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from switchboard_core.errors import RateLimited
from switchboard_core.prometheus.catalogue import RATE_LIMIT_REFUSALS
from switchboard_core.shared.redis_client import (
    REDIS_FAILED,
    cancel_until_done,
    namespaced,
    reraise_cancellation,
)

logger = logging.getLogger(__name__)

_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(s|m|h)?\s*")
_UNIT_S = {"s": 1, "m": 60, "h": 3600}
# The `limit` label of a refusal (`switchboard_rate_limit_refusals_total`); a request
# over both limits is counted once, under the first.
_LIMIT_NAMES = {"t": "token", "u": "user"}
# Past this many keys, ended windows are dropped; past it still, everything (a flood of ids).
_MAX_ENTRIES = 50_000


@dataclass(frozen=True, slots=True)
class Rate:
    requests: int
    window_s: int

    @classmethod
    def parse(cls, text: str) -> Rate | None:
        """`600/60s`, `10/s`, `100/1m`, `5000/h`; empty or `off` means no limit."""
        if text.strip().lower() in ("", "off", "none"):
            return None
        match = _RATE.fullmatch(text)
        if match is None:
            raise ValueError(f"a rate limit reads like '600/60s', not {text!r}")
        count, length, unit = match.groups()
        window_s = int(length or 1) * _UNIT_S[unit or "s"]
        if int(count) < 1 or window_s < 1:
            raise ValueError(f"a rate limit needs at least one request per second or more: {text!r}")
        return cls(int(count), window_s)

    def __str__(self) -> str:
        return f"{self.requests}/{self.window_s}s"


class Caller(Protocol):
    user_id: str
    token_id: str


class _Count:
    """One key's count in one window: what Redis last said every replica pushed, what
    this replica is pushing now, and what it counted since; and the previous window's
    count (this replica's, or the total Redis holds once a push read it back)."""

    __slots__ = ("index", "pending", "previous", "sending", "total")

    def __init__(self, index: int, previous: int = 0) -> None:
        self.index = index
        self.total = 0
        self.sending = 0
        self.pending = 0
        self.previous = previous

    @property
    def seen(self) -> int:
        return self.total + self.sending + self.pending

    def estimate(self, rate: Rate, now: float) -> float:
        """Requests in the last `rate.window_s` seconds, the previous window's weighted."""
        covered = 1.0 - (now - self.index * rate.window_s) / rate.window_s
        return self.previous * covered + self.seen

    def retry_after(self, rate: Rate, now: float) -> int:
        """Whole seconds until the estimate is below the limit again (at least 1)."""
        start = self.index * rate.window_s
        if self.seen >= rate.requests:
            # In the next window, with this one's count as the previous one's.
            at = start + rate.window_s * (2 - rate.requests / self.seen)
        else:
            at = start + rate.window_s * (1 - (rate.requests - self.seen) / self.previous)
        return max(1, math.floor(at - now) + 1)


class RateLimiter:
    def __init__(
        self,
        *,
        per_token: Rate | None = None,
        per_user: Rate | None = None,
        redis: Redis | None = None,
        sync_interval_s: float = 0.1,
        sync_timeout_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limits = tuple(
            (kind, rate) for kind, rate in (("t", per_token), ("u", per_user)) if rate is not None
        )
        self._redis = redis
        self._interval_s = sync_interval_s
        self._timeout_s = sync_timeout_s
        self._clock = clock
        self._counts: dict[tuple[str, str], _Count] = {}
        # Counts of ended windows not pushed yet (they weigh on the windows after them).
        self._ended: list[tuple[tuple[str, str], _Count]] = []
        self._task: asyncio.Task | None = None
        self._redis_ok = True

    @property
    def enabled(self) -> bool:
        return bool(self._limits)

    def check(self, caller: Caller) -> None:
        """Count one request of `caller`'s, or raise RateLimited when a limit is spent."""
        if not self._limits:
            return
        now = self._clock()
        counts = []
        retry_after = 0
        refused_by = ""
        for kind, rate in self._limits:
            ident = caller.token_id if kind == "t" else caller.user_id
            if not ident:
                continue
            count = self._count(kind, ident, rate, now)
            if count.estimate(rate, now) >= rate.requests:
                retry_after = max(retry_after, count.retry_after(rate, now))
                refused_by = refused_by or _LIMIT_NAMES[kind]
            counts.append(count)
        if retry_after:
            _refusal(refused_by)
            raise RateLimited(f"too many requests: retry after {retry_after} s", retry_after_s=retry_after)
        for count in counts:
            count.pending += 1

    def _count(self, kind: str, ident: str, rate: Rate, now: float) -> _Count:
        index = int(now // rate.window_s)
        key = (f"{kind}{rate.window_s}", ident)
        count = self._counts.get(key)
        if count is None or count.index != index:
            if count is None and len(self._counts) >= _MAX_ENTRIES:
                self._prune(now)
            count = self._counts[key] = self._next(key, count, index)
        return count

    def _next(self, key: tuple[str, str], ended: _Count | None, index: int) -> _Count:
        """The count of window `index` for a key whose last one was `ended`."""
        if ended is not None and ended.pending and self._redis is not None:
            self._ended.append((key, ended))
        if ended is not None and ended.index == index - 1:
            return _Count(index, ended.seen)
        return _Count(index)  # no previous count here (another replica's: read at the next push)

    def _prune(self, now: float) -> None:
        windows = {f"{kind}{rate.window_s}": rate.window_s for kind, rate in self._limits}
        for key in [k for k, c in self._counts.items() if c.index != int(now // windows.get(k[0], 1))]:
            del self._counts[key]
        if len(self._counts) >= _MAX_ENTRIES:
            self._counts.clear()

    def start(self) -> None:
        """Push counts to the shared Redis from now on (nothing to do when embedded)."""
        if self._redis is not None and self._limits and self._task is None:
            self._task = asyncio.create_task(self._sync_forever(), name="rate-limit-sync")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_until_done(task)

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.sync()

    async def sync(self) -> None:
        """Push what was counted since the last push and read back the totals: one round trip."""
        now = self._clock()
        windows = {f"{kind}{rate.window_s}": rate.window_s for kind, rate in self._limits}
        batch = []
        for key, count in list(self._counts.items()):
            current = int(now // windows.get(key[0], 1))
            if count.index == current - 1 and count.seen:
                self._counts[key] = self._next(key, count, current)  # it weighs on this window
            elif count.index != current:
                del self._counts[key]  # nothing more to decide on it
            elif count.pending:
                batch.append((key, count))
        batch += self._ended
        self._ended = []
        if not batch or self._redis is None:
            return
        pipe = self._redis.pipeline(transaction=False)
        for (window, ident), count in batch:
            count.sending, count.pending = count.pending, 0
            name = namespaced("limits", window, ident, str(count.index))
            pipe.incrby(name, count.sending)
            pipe.pexpire(name, 2000 * windows[window])
            # What every replica pushed in the previous window (the key lives two windows).
            pipe.get(namespaced("limits", window, ident, str(count.index - 1)))
        try:
            async with asyncio.timeout(self._timeout_s):
                replies = await pipe.execute()
        except REDIS_FAILED as exc:
            reraise_cancellation()
            if self._redis_ok:
                logger.warning("rate limits: Redis failed (%s); each replica limits its own traffic", exc)
            self._redis_ok = False
            for _, count in batch:
                count.pending, count.sending = count.pending + count.sending, 0
            return
        self._redis_ok = True
        for (_, count), total, previous in zip(batch, replies[::3], replies[2::3], strict=True):
            count.total, count.sending = max(count.total, int(total)), 0
            count.previous = max(count.previous, int(previous or 0))


def _refusal(limit: str) -> None:
    RATE_LIMIT_REFUSALS.labels(limit).inc()


def rate_limiter_from(
    per_token: str, per_user: str, *, redis: Redis | None, sync_interval_s: float
) -> RateLimiter:
    return RateLimiter(
        per_token=Rate.parse(per_token),
        per_user=Rate.parse(per_user),
        redis=redis,
        sync_interval_s=sync_interval_s,
    )
