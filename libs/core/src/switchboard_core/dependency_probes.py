"""The probes readiness checks dependencies with (`readiness.Probe`): a database, Redis.

Each probe has a connection of its own, not the service's pool: a pool busy with
requests must not make a replica look unreachable, a check must not wait behind them,
and the `counters` (`sql.queries`, `redis.commands`) keep counting only what requests
and jobs cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from switchboard_core.db import is_sqlite
from switchboard_core.shared.redis_client import RedisConfig


class DatabaseProbe:
    """Postgres (directly or through PgBouncer): a fresh connection runs `SELECT 1`.

    SQLite (embedded): the file is local, so it is there while the process is; what is
    checked is that it is still a database, read-only, from its schema page (cheap:
    one page), so a file truncated or overwritten is reported rather than hidden."""

    name = "database"

    def __init__(self, url: str) -> None:
        self._sqlite_path: Path | None = None
        self._engine: AsyncEngine | None = None
        if is_sqlite(url):
            database = make_url(url).database
            if database and database != ":memory:":
                self._sqlite_path = Path(database).resolve()
        else:
            # NullPool: each check opens and closes its own connection (through PgBouncer
            # that is cheap), so a restarted server is seen with no stale pooled one.
            self._engine = create_async_engine(
                url, poolclass=NullPool, connect_args={"prepare_threshold": None}
            )

    async def check(self) -> None:
        if self._engine is not None:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        elif self._sqlite_path is not None:
            await asyncio.to_thread(_sqlite_readable, self._sqlite_path)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()


def _sqlite_readable(path: Path) -> None:
    # mode=ro: a missing file is an error here, never silently created empty.
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1.0)) as conn:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()


class RedisProbe:
    """Redis answers `PING` on a connection of the probe's own."""

    name = "redis"

    def __init__(self, config: RedisConfig) -> None:
        # Made here, connected on the first check: no I/O until the checker runs.
        self._client = Redis.from_url(
            config.url,
            socket_timeout=config.socket_timeout_s,
            socket_connect_timeout=config.connect_timeout_s,
            retry=Retry(NoBackoff(), 0),
        )

    async def check(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()
