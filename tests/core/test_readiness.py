"""The readiness checker and its probes, in process: what a broken SQLite file, a silent
Redis and a stop do to `/readyz`'s answer, and what gets logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

import pytest
from switchboard_core.dependency_probes import DatabaseProbe, RedisProbe
from switchboard_core.readiness import Need, Readiness
from switchboard_core.shared.redis_client import RedisConfig
from switchboard_testing.pgbouncer import start_pgbouncer
from switchboard_testing.postgres import start_postgres
from switchboard_testing.redis_server import RedisServer

INTERVAL_S = 0.05
TIMEOUT_S = 0.3


def _sqlite_database(path: Path) -> str:
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE tools (id INTEGER PRIMARY KEY)")
    conn.close()
    return f"sqlite+aiosqlite:///{path}"


async def test_an_embedded_service_is_ready_at_once_and_unready_while_its_sqlite_file_is_broken(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "registry.db"
    url = _sqlite_database(database)
    changes: list[Mapping[str, bool]] = []

    async def record(ready: Mapping[str, bool]) -> None:
        changes.append(dict(ready))

    probe = DatabaseProbe(url)
    readiness = Readiness(
        ["registry", "mcp-proxy"],
        [Need("registry", probe)],
        interval_s=INTERVAL_S,
        timeout_s=TIMEOUT_S,
        on_change=record,
    )
    await readiness.check_now()
    assert readiness.body() == (200, {"status": "ready"})

    intact = database.read_bytes()
    database.write_bytes(b"this is not a database" * 400)
    caplog.set_level(logging.INFO, logger="switchboard_core.readiness")
    for _ in range(3):
        await readiness.check_now()
    # Several services in one process: the missing part is named with its service, and
    # only the service that needs it is unready.
    assert readiness.body() == (503, {"status": "not ready", "waiting_for": ["registry database"]})
    assert changes[-1] == {"registry": False, "mcp-proxy": True}

    database.write_bytes(intact)
    await readiness.check_now()
    assert readiness.body() == (200, {"status": "ready"})
    assert changes == [
        {"registry": True, "mcp-proxy": True},
        {"registry": False, "mcp-proxy": True},
        {"registry": True, "mcp-proxy": True},
    ]
    # Once when it broke, once when it mended: not at every failed check.
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"], caplog.text
    assert "file is not a database" in caplog.records[0].getMessage()
    await readiness.stop()


async def test_a_missing_sqlite_file_is_reported_and_never_created_by_the_check(tmp_path: Path) -> None:
    database = tmp_path / "metrics.db"
    readiness = Readiness(
        ["metrics"],
        [Need("metrics", DatabaseProbe(f"sqlite+aiosqlite:///{database}"))],
        interval_s=INTERVAL_S,
        timeout_s=TIMEOUT_S,
    )
    await readiness.check_now()
    assert readiness.body() == (503, {"status": "not ready", "waiting_for": ["database"]})
    assert not database.exists()
    await readiness.stop()


async def test_a_redis_that_accepts_but_never_answers_is_given_up_on_within_the_check_deadline(
    redis_server: RedisServer,
) -> None:
    # A hung server (or a silent network) is the case the deadline is for: a refused
    # connection fails at once anyway.
    probe = RedisProbe(RedisConfig(redis_server.url))
    readiness = Readiness(
        ["mcp-proxy"], [Need("mcp-proxy", probe)], interval_s=INTERVAL_S, timeout_s=TIMEOUT_S
    )
    await readiness.check_now()
    assert readiness.body() == (200, {"status": "ready"})

    redis_server.freeze()
    try:
        async with asyncio.timeout(TIMEOUT_S + 1.0):
            await readiness.check_now()
        assert readiness.body() == (503, {"status": "not ready", "waiting_for": ["redis"]})
    finally:
        redis_server.thaw()
    await readiness.check_now()
    assert readiness.body() == (200, {"status": "ready"})
    await readiness.stop()


async def test_a_database_behind_pgbouncer_is_given_up_on_within_the_deadline_while_postgres_is_down() -> (
    None
):
    # PgBouncer keeps taking connections and queries while its Postgres is away; psycopg,
    # its query cancelled at the deadline, waits up to 5 s for the server to confirm.
    with start_postgres() as postgres, start_pgbouncer(postgres) as pooler:
        probe = DatabaseProbe(pooler.url(postgres.create_database()))
        readiness = Readiness(
            ["registry"], [Need("registry", probe)], interval_s=INTERVAL_S, timeout_s=TIMEOUT_S
        )
        await readiness.check_now()
        assert readiness.body() == (200, {"status": "ready"})

        postgres.stop()
        async with asyncio.timeout(TIMEOUT_S + 1.0):
            await readiness.check_now()
        assert readiness.body() == (503, {"status": "not ready", "waiting_for": ["database"]})
        await readiness.stop()


async def test_the_background_checks_follow_a_dependency_and_a_stop_ends_them_unready(
    redis_server: RedisServer,
) -> None:
    changes: asyncio.Queue[Mapping[str, bool]] = asyncio.Queue()

    async def record(ready: Mapping[str, bool]) -> None:
        changes.put_nowait(dict(ready))

    readiness = Readiness(
        ["auth"],
        [Need("auth", RedisProbe(RedisConfig(redis_server.url)))],
        interval_s=INTERVAL_S,
        timeout_s=TIMEOUT_S,
        on_change=record,
    )
    await readiness.check_now()
    assert changes.get_nowait() == {"auth": True}
    readiness.start()

    redis_server.stop()
    async with asyncio.timeout(5):
        assert await changes.get() == {"auth": False}
    redis_server.start_again()
    async with asyncio.timeout(5):
        assert await changes.get() == {"auth": True}

    await readiness.stop()
    assert readiness.body() == (503, {"status": "stopping"})
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "readiness checks"]
