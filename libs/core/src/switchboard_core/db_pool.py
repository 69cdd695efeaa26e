"""A service's database pool, watched for Prometheus.

`switchboard_db_pool_connections{service,state}` is read from the pools at scrape time
(in use: checked out; idle: checked in), so a checkout pays nothing for it. A checkout
that found no free connection and no room to open one waits for another request to give
one back: `MeteredPool` counts those waits (`switchboard_db_pool_waits_total`) and times
them (`switchboard_db_pool_wait_seconds`), the sign a pool is too small for its load or
a transaction is held too long. A checkout that opens a new connection is not a wait.

Engines are held weakly: a disposed engine's pool leaves the sums at the next scrape.
"""

from __future__ import annotations

import weakref
from time import perf_counter

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, Pool

from switchboard_core.prometheus.catalogue import DB_POOL_CONNECTIONS, DB_POOL_WAIT_DURATION, DB_POOL_WAITS

_engines: dict[str, list[weakref.ref[AsyncEngine]]] = {}


class MeteredPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's async queue pool, counting and timing the checkouts that wait."""

    service = "unknown"

    def _do_get(self):
        if self._max_overflow < 0 or self._overflow < self._max_overflow or not self._pool.empty():
            return super()._do_get()
        started = perf_counter()
        try:
            return super()._do_get()
        finally:
            DB_POOL_WAITS.labels(self.service).inc()
            DB_POOL_WAIT_DURATION.labels(self.service).observe(perf_counter() - started)

    def recreate(self) -> MeteredPool:
        pool = super().recreate()
        pool.service = self.service
        return pool


def watch(engine: AsyncEngine, service: str) -> None:
    """Count `engine`'s pool into `service`'s gauges from now on."""
    pool = engine.sync_engine.pool
    if isinstance(pool, MeteredPool):
        pool.service = service
    if service not in _engines:
        _engines[service] = []
        DB_POOL_CONNECTIONS.labels(service, "in_use").set_function(lambda: _sum(service, _in_use))
        DB_POOL_CONNECTIONS.labels(service, "idle").set_function(lambda: _sum(service, _idle))
    _engines[service].append(weakref.ref(engine))


def _in_use(pool: Pool) -> int:
    return pool.checkedout() if isinstance(pool, AsyncAdaptedQueuePool) else 0


def _idle(pool: Pool) -> int:
    return pool.checkedin() if isinstance(pool, AsyncAdaptedQueuePool) else 0


def _sum(service: str, count) -> int:
    alive = [ref for ref in _engines.get(service, ()) if ref() is not None]
    _engines[service] = alive
    return sum(count(engine.sync_engine.pool) for ref in alive if (engine := ref()) is not None)
