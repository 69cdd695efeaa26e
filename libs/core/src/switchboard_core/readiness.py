"""Whether a process is ready: can each service it hosts reach what it needs now?

Readiness is not liveness. `/healthz` says the process works; `/readyz` and the gRPC
health status say whether a request sent here now has what it needs: the service's
own database (auth, registry, metrics) and Redis where one is configured. One
background task per process checks every dependency every `interval_s`, each within
`timeout_s`, so a probe (Kubernetes, nginx, a peer's gRPC health check) never waits on
a database and a request never pays for a check. A failed check flips readiness at
once and back when a later one passes: nothing restarts.

A dependency that goes away is logged once, when it goes, and once when it is back;
never on every failed check. Each round also sets `switchboard_ready` (what `/readyz`
answers, 1 or 0) and `switchboard_dependency_up{dependency}` per probe, named as
`waiting_for` names it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from switchboard_core.prometheus.catalogue import DEPENDENCY_UP, READY
from switchboard_core.shared.redis_client import cancel_until_done

logger = logging.getLogger(__name__)


class Probe(Protocol):
    """One dependency: `check()` returns when it can be reached and raises when not."""

    name: str

    async def check(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class Need:
    """A probe one hosted service needs (a shared one, e.g. Redis, may be needed by several)."""

    service: str
    probe: Probe


# Told which hosted services are ready whenever that changes.
Listener = Callable[[Mapping[str, bool]], Awaitable[None]]


class Readiness:
    """The readiness of the services one process hosts, kept current by `start()`."""

    def __init__(
        self,
        services: Sequence[str],
        needs: Sequence[Need],
        *,
        interval_s: float,
        timeout_s: float,
        on_change: Listener | None = None,
    ) -> None:
        self.services = list(services)
        self.needs = list(needs)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self._on_change = on_change
        # Distinct probes, checked once a round however many services need them.
        self._probes: list[Probe] = list({id(n.probe): n.probe for n in self.needs}.values())
        self._failing: dict[int, str] = {}
        self._checked = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        # The last check task of each probe, which may outlive its deadline.
        self._running: dict[int, asyncio.Task[None]] = {}

    @property
    def ready(self) -> bool:
        return self._checked and not self._failing and not self._stopping

    def waiting_for(self) -> list[str]:
        """What is missing, by name (`database`, `redis`; `registry database` in a process
        hosting several services), sorted; empty when ready."""
        if not self._checked:
            return ["first check"]
        several = len(self.services) > 1
        names = {
            f"{need.service} {need.probe.name}"
            if several and not _shared(need, self.needs)
            else need.probe.name
            for need in self.needs
            if id(need.probe) in self._failing
        }
        return sorted(names)

    def service_ready(self) -> dict[str, bool]:
        failing = {need.service for need in self.needs if id(need.probe) in self._failing}
        return {s: self._checked and not self._stopping and s not in failing for s in self.services}

    def body(self) -> tuple[int, dict]:
        """The HTTP status and body `/readyz` answers."""
        if self._stopping:
            return 503, {"status": "stopping"}
        if self.ready:
            return 200, {"status": "ready"}
        return 503, {"status": "not ready", "waiting_for": self.waiting_for()}

    async def check_now(self) -> None:
        """One round of checks: every probe at once, each within the deadline."""
        results = await asyncio.gather(*(self._check(p) for p in self._probes))
        before = self.service_ready()
        for probe, problem in zip(self._probes, results, strict=True):
            was = self._failing.get(id(probe))
            if problem is None and was is not None:
                del self._failing[id(probe)]
                logger.info("readiness: %s can be reached again", probe.name)
            elif problem is not None and was is None:
                self._failing[id(probe)] = problem
                logger.warning(
                    "readiness: %s cannot be reached (%s); not ready until it can", probe.name, problem
                )
        first = not self._checked
        self._checked = True
        self._show()
        after = self.service_ready()
        if (first or after != before) and self._on_change is not None:
            await self._on_change(after)

    async def _check(self, probe: Probe) -> str | None:
        # The check runs as a task of its own, and is waited on for `timeout_s` only:
        # a cancelled driver may take its time to wind down (psycopg waits up to 5 s
        # for the server to confirm a cancelled query), and the deadline must hold.
        straggler = self._running.get(id(probe))
        if straggler is not None and not straggler.done():
            straggler.cancel()
            return f"its previous check has not ended {self.timeout_s:g}s after its deadline"
        task = asyncio.create_task(probe.check(), name=f"readiness check of {probe.name}")
        task.add_done_callback(_seen)
        self._running[id(probe)] = task
        done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        if not done:
            task.cancel()
            return f"no answer within {self.timeout_s:g}s"
        if task.cancelled():
            return "its check was cancelled"
        exc = task.exception()
        if exc is None:
            return None
        # A probe reports any failure to reach its dependency; which one it was is only logged.
        return _described(exc)

    def _show(self) -> None:
        """The last round, as Prometheus gauges."""
        several = len(self.services) > 1
        for need in self.needs:
            shared = _shared(need, self.needs)
            name = f"{need.service} {need.probe.name}" if several and not shared else need.probe.name
            DEPENDENCY_UP.labels(name).set(0 if id(need.probe) in self._failing else 1)
        READY.set(1 if self.ready else 0)

    def start(self) -> None:
        """Check every `interval_s` in the background until `stop()` (call `check_now()` first)."""
        self._task = asyncio.create_task(self._run(), name="readiness checks")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check_now()
            # A fault of the checker's own must not freeze readiness where it stood.
            except Exception:
                logger.exception("readiness check failed")

    async def stop(self) -> None:
        """Not ready from now on (the process is stopping); the checks end, the probes close."""
        self._stopping = True
        READY.set(0)
        await cancel_until_done(self._task)
        self._task = None
        for check in self._running.values():
            await cancel_until_done(check)
        self._running.clear()
        for probe in self._probes:
            try:
                await probe.close()
            except Exception:
                logger.exception("closing the readiness probe of %s failed", probe.name)


def _shared(need: Need, needs: Sequence[Need]) -> bool:
    return sum(1 for n in needs if n.probe is need.probe) > 1


def _described(exc: Exception) -> str:
    # One line: drivers add hints and links on the next ones.
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


def _seen(task: asyncio.Task[None]) -> None:
    # A check abandoned at its deadline may still fail later: nobody waits for it, and
    # asyncio would otherwise log its exception as never retrieved.
    if not task.cancelled():
        task.exception()


class AlwaysReady:
    """The readiness of an app run without a host (tests): ready, nothing checked."""

    def body(self) -> tuple[int, dict]:
        return 200, {"status": "ready"}
