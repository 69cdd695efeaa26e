"""Leader election: one replica runs a job (the registry's health checks) for all.

`run_while_leader(name, job)` contends for the lease `name` for as long as it runs,
and runs `job` (a coroutine that loops until cancelled) only while holding it. A job
that returns ends the contention; one that raises is logged and contended for again.
`holds(name)` answers "is it ours right now" for code that asks each round instead
(`campaign` keeps such a lease without a job). Embedded, `AlwaysLeader` always leads.
Both show what they hold in `switchboard_leader_held{service,lease}` (1 while held, 0
once lost or given up), so an alert can tell a job nobody runs.

The Redis lease: `SET key token NX PX ttl` takes it, a Lua compare-and-extend renews
it every ttl/3, a compare-and-delete gives it up on stop. A renewal that fails, or has
no answer within ttl/3, ends the lease here: counted from the last renewal that
succeeded, the job is cancelled within 2/3 of the ttl, before Redis lets another
replica take the lease at the ttl. So no two replicas run the job at once, provided
clocks tick at the same rate and jobs stop promptly when cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio import Redis

from switchboard_core.prometheus.catalogue import LEADER_HELD
from switchboard_core.shared.redis_client import REDIS_FAILED, namespaced, reraise_cancellation

logger = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]

_EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# A job that failed is started again after this long (embedded: nobody else would).
_RESTART_PAUSE_S = 1.0


class Leadership(Protocol):
    async def run_while_leader(self, name: str, job: Job) -> None: ...

    def holds(self, name: str) -> bool: ...


async def campaign(leadership: Leadership, name: str) -> None:
    """Hold the lease `name` whenever possible, running nothing: `holds(name)` tells."""
    await leadership.run_while_leader(name, asyncio.Event().wait)


def _shown(service: str, name: str, held: bool) -> None:
    LEADER_HELD.labels(service, name).set(1 if held else 0)


class AlwaysLeader:
    """The embedded shape: one process, always the leader."""

    def __init__(self, service: str = "embedded") -> None:
        self._service = service
        self._held: set[str] = set()

    def holds(self, name: str) -> bool:
        return name in self._held

    async def run_while_leader(self, name: str, job: Job) -> None:
        self._held.add(name)
        _shown(self._service, name, True)
        try:
            while True:
                try:
                    return await job()
                except Exception:  # a background job's top level: log, start it again
                    logger.exception("leader job %s failed; starting it again", name)
                await asyncio.sleep(_RESTART_PAUSE_S)
        finally:
            self._held.discard(name)
            _shown(self._service, name, False)


class RedisLeadership:
    def __init__(self, client: Redis, service: str, *, ttl_s: float = 15.0, owner: str = "") -> None:
        self._client = client
        self._service = service
        self._ttl_ms = int(ttl_s * 1000)
        self._interval_s = ttl_s / 3
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)
        self._held: set[str] = set()
        self._redis_ok = True

    def holds(self, name: str) -> bool:
        return name in self._held

    async def run_while_leader(self, name: str, job: Job) -> None:
        key = namespaced(self._service, "leader", name)
        # One token per contention: two contentions in one process never pass for each other.
        token = f"{self.owner}:{uuid.uuid4().hex}"
        while True:
            if await self._command(self._client.set(key, token, nx=True, px=self._ttl_ms)):
                if await self._lead(name, key, token, job):
                    return
            await asyncio.sleep(self._interval_s)

    async def _lead(self, name: str, key: str, token: str, job: Job) -> bool:
        """Run `job` while the lease holds; True when the job returned by itself."""
        logger.info("%s leads %s", self.owner, name)
        self._held.add(name)
        _shown(self._service, name, True)
        task = asyncio.create_task(job(), name=f"leader job {name}")
        held = True
        try:
            while held and not task.done():
                await asyncio.wait({task}, timeout=self._interval_s)
                if not task.done():
                    held = bool(await self._command(self._extend(keys=[key], args=[token, self._ttl_ms])))
            if not held:
                logger.warning("%s lost the lease on %s; its job stops", self.owner, name)
        finally:
            self._held.discard(name)
            _shown(self._service, name, False)
            task.cancel()
            await asyncio.wait({task})
            if held:
                await self._command(self._release(keys=[key], args=[token]))
        if task.cancelled():
            return False
        if (error := task.exception()) is not None:
            logger.error("leader job %s failed; contending again", name, exc_info=error)
            return False
        return True

    async def _command(self, command: Awaitable[Any]) -> Any:
        """The command's answer, or None when Redis did not give one within ttl/3."""
        try:
            async with asyncio.timeout(self._interval_s):
                answer = await command
        except REDIS_FAILED as exc:
            reraise_cancellation()
            if self._redis_ok:
                logger.warning("leader election: Redis failed (%s); nobody leads until it answers", exc)
            self._redis_ok = False
            return None
        self._redis_ok = True
        return answer
