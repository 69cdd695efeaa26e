"""Upstream health: one failing upstream never breaks a federated server.

Every gateway is pinged on a schedule, all at once (bounded), each with its own short
deadline, so a hanging upstream costs its own check and no other. After
`failures` failed checks in a row a gateway is marked unavailable and every catalog
leaves its items out; the first check that passes after that lists the upstream
again (a refresh) and puts them back. Only a change of status is written, in a
transaction that raises the catalog revision, so watchers (the proxy's caches) hear
of it; a check that changes nothing writes nothing.

Counts of failures live in the process; the status lives in the database, so any
process may act on what another found. Each check's result is also the gauge
`switchboard_upstream_up` (1 answered, 0 not) of the replica checking; its series go
when the gateway is deleted (or disabled) and when this replica stops leading the
checks, so a replica no longer checking never shows a stale value.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.counters import COUNTERS
from switchboard_core.errors import Conflict, InvalidInput, NotFound, UpstreamError
from switchboard_core.prometheus.catalogue import UPSTREAM_UP
from switchboard_mcp.upstream import NegotiatingUpstream, UpstreamRPCError

from switchboard_registry.domain.access import Caller
from switchboard_registry.domain.audit_outbox import event
from switchboard_registry.domain.changes import Changes
from switchboard_registry.domain.gateways import Gateways
from switchboard_registry.domain.models import AVAILABLE, UNAVAILABLE, GatewayStatus, HealthTarget
from switchboard_registry.domain.upstream_access import UpstreamAccess
from switchboard_registry.store import revision as revision_store
from switchboard_registry.store.gateways import health_target, health_targets, set_status

logger = logging.getLogger(__name__)


class HealthChecker:
    """Pings gateways and records what changed; `check_all` is one round of the schedule."""

    def __init__(
        self,
        sessions: async_sessionmaker,
        changes: Changes,
        gateways: Gateways,
        upstreams: UpstreamAccess,
        *,
        timeout_s: float,
        failures: int,
        concurrency: int,
    ) -> None:
        self._db = sessions
        self._changes = changes
        self._gateways = gateways
        self._reach = upstreams
        self._timeout_s = timeout_s
        self._threshold = failures
        self._limit = asyncio.Semaphore(concurrency)
        # One upstream session per gateway (over whichever transport it speaks), reused
        # from check to check while its credentials stay (keyed by their sealed form);
        # sessions given up on close in the background.
        self._upstreams: dict[str, tuple[str, NegotiatingUpstream]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._failures: dict[str, int] = {}
        self._last_ok: dict[str, datetime] = {}
        # gateway id -> the name its `switchboard_upstream_up` series is labelled with.
        self._up_series: dict[str, str] = {}

    async def check_all(self) -> None:
        async with self._db() as s:
            targets = await health_targets(s)
        self._forget_all_but({t.id for t in targets})
        async with asyncio.TaskGroup() as group:
            for target in targets:
                group.create_task(self._check_bounded(target), name=f"health check of {target.name}")

    async def check_now(self, gateway_id: str, *, by: Caller) -> None:
        """One check asked for by `by` (who may update the gateway): its result decides the
        status at once, and the audit log has what it found (`gateway.check`)."""
        await self._gateways.writable(gateway_id, by, "gateways.update")
        async with self._db() as s:
            target = await health_target(s, gateway_id)
        if target is None:
            raise NotFound(f"no gateway {gateway_id!r}")
        error = await self._probe(target)
        await self._record(target, error, decisive=True)
        async with self._db() as s:
            after = await health_target(s, gateway_id)
        found = {"status": [target.status, target.status if after is None else after.status]}
        if error is not None:
            found["error"] = error
        await self._changes.record(event(by, "gateway.check", "gateway", gateway_id, found))

    async def close(self) -> None:
        upstreams, self._upstreams = self._upstreams, {}
        for _, upstream in upstreams.values():
            self._close_later(upstream)
        await asyncio.gather(*self._closing, return_exceptions=True)

    async def _check_bounded(self, target: HealthTarget) -> None:
        async with self._limit:
            error = await self._probe(target)
        await self._record(target, error, decisive=False)

    async def _probe(self, target: HealthTarget) -> str | None:
        """Why the upstream failed a ping, or None when it answered."""
        kept = self._upstreams.get(target.id)
        if kept is not None and kept[0] == target.auth_sealed:
            upstream = kept[1]
        else:
            if kept is not None:
                self._close_later(kept[1])
            try:
                http = self._reach.client(target.id, target.name, target.url, target.auth_sealed)
            except UpstreamError as exc:
                return exc.message
            upstream = NegotiatingUpstream(target.url, http, timeout_s=self._timeout_s)
            self._upstreams[target.id] = (target.auth_sealed, upstream)
        try:
            # Initialize (first time) and ping share one deadline.
            async with asyncio.timeout(self._timeout_s):
                await upstream.request("ping")
            return None
        except UpstreamRPCError:
            return None  # it answered, if only to say it does not know ping
        except TimeoutError:
            error = f"upstream {target.url} did not answer a ping within {self._timeout_s:g}s"
        except UpstreamError as exc:
            error = exc.message
        # Begin again with a fresh session next time.
        if (kept := self._upstreams.get(target.id)) is not None and kept[1] is upstream:
            del self._upstreams[target.id]
            self._close_later(upstream)
        return error

    def _close_later(self, upstream: NegotiatingUpstream) -> None:
        """Close without waiting: ending a session with a hanging upstream must not hold up a check."""
        task = asyncio.create_task(upstream.close(), name=f"closing health session with {upstream.url}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _gauge(self, target: HealthTarget, up: bool) -> None:
        named = self._up_series.get(target.id)
        if named is not None and named != target.name:
            UPSTREAM_UP.remove(target.id, named)  # renamed: one series per gateway
        self._up_series[target.id] = target.name
        UPSTREAM_UP.labels(target.id, target.name).set(1 if up else 0)

    async def _record(self, target: HealthTarget, error: str | None, *, decisive: bool) -> None:
        self._gauge(target, error is None)
        if error is None:
            self._failures.pop(target.id, None)
            self._last_ok[target.id] = datetime.now(UTC)
            if target.status == UNAVAILABLE:
                await self._recover(target)
            return
        failures = self._failures[target.id] = self._failures.get(target.id, 0) + 1
        if target.status == AVAILABLE and (decisive or failures >= self._threshold):
            if await self._set(target.id, UNAVAILABLE, self._last_ok.get(target.id), error):
                logger.warning(
                    "gateway %s is unavailable after %d failed check(s); its items leave the catalog: %s",
                    target.name,
                    failures,
                    error,
                )

    async def _recover(self, target: HealthTarget) -> None:
        """List the upstream again, which marks it available; keep the old listing if the new one is refused."""
        try:
            await self._gateways.refresh(target.id)
        except NotFound:
            return  # deleted meanwhile
        except (Conflict, InvalidInput) as exc:
            logger.warning(
                "gateway %s answers again but its new listing is refused (%s); serving its previous one",
                target.name,
                exc.message,
            )
            await self._set(target.id, AVAILABLE, datetime.now(UTC), None)
        except UpstreamError as exc:
            logger.warning("gateway %s answers pings but could not be listed: %s", target.name, exc.message)
            return
        logger.warning("gateway %s is available again", target.name)

    async def _set(
        self, gateway_id: str, status: GatewayStatus, last_seen_ok_at: datetime | None, error: str | None
    ) -> bool:
        """Write a status change (raising the revision); False when another process already had."""
        revision = 0
        async with self._db.begin() as s:
            if await set_status(s, gateway_id, status, last_seen_ok_at=last_seen_ok_at, error=error):
                revision = await revision_store.bump(s)
        if revision:
            await self._changes.announce(revision)
        return bool(revision)

    def forget_all(self) -> None:
        """Drop what was learnt about every gateway, closing its session in the background."""
        self._forget_all_but(set())

    def _forget_all_but(self, gateway_ids: set[str]) -> None:
        for gone in set(self._upstreams) - gateway_ids:
            self._close_later(self._upstreams.pop(gone)[1])
        for known in (self._failures, self._last_ok):
            for gone in set(known) - gateway_ids:
                del known[gone]
        for gone in set(self._up_series) - gateway_ids:
            UPSTREAM_UP.remove(gone, self._up_series.pop(gone))


class HealthSchedule:
    """Runs `HealthChecker.check_all` every `interval_s` while `run()` runs.

    `run()` is the job of the replica leading the upstream work (leader election, see
    the registry service), so one replica checks for all; `rounds` counts its rounds.
    """

    def __init__(self, checker: HealthChecker, *, interval_s: float) -> None:
        self._checker = checker
        self._interval_s = interval_s
        self.rounds = 0

    async def run(self) -> None:
        try:
            while True:
                self.rounds += 1
                COUNTERS.add("registry.health_rounds")
                try:
                    await self._checker.check_all()
                except Exception:  # the schedule's top level: log, try again next round
                    logger.exception("health checks failed; trying again in %gs", self._interval_s)
                await asyncio.sleep(self._interval_s)
        finally:
            # No longer leading: the sessions kept with upstreams go (in the background).
            self._checker.forget_all()
