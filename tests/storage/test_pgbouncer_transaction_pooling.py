"""Engines from switchboard_core.db work through PgBouncer in transaction pooling mode:
consecutive transactions of one client land on different server connections, so
nothing may outlive a transaction on the server (prepared statements above all)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from switchboard_core.db import create_engine
from switchboard_testing.pgbouncer import PgBouncer
from switchboard_testing.plugin import PostgresDatabase

CLIENTS = 12
ROUNDS = 40

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client", Integer, nullable=False),
    Column("body", String(100), nullable=False),
)


async def _client_work(engine: AsyncEngine, client: int) -> set[int]:
    """Rounds of short transactions repeating the same statements (psycopg would
    prepare them after 5 runs); returns the server backends that served them."""
    backends: set[int] = set()
    for round_ in range(ROUNDS):
        async with engine.begin() as conn:
            backends.add(await conn.scalar(text("SELECT pg_backend_pid()")))
            await conn.execute(insert(notes), [{"client": client, "body": f"{round_}-{i}"} for i in range(3)])
            count = await conn.scalar(select(func.count()).where(notes.c.client == client))
        assert count == 3 * (round_ + 1)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(notes.c.body).where(notes.c.client == client))).all()
        assert len(rows) == 3 * (round_ + 1)
    return backends


async def _run_clients(engine: AsyncEngine) -> list[set[int]]:
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(_client_work(engine, client)) for client in range(CLIENTS)]
    return [task.result() for task in tasks]


async def test_concurrent_clients_repeating_statements_through_pgbouncer_never_lose_a_prepared_statement(
    postgres_database: PostgresDatabase, pgbouncer: PgBouncer
) -> None:
    engine = create_engine(postgres_database.url)
    try:
        served_by = await _run_clients(engine)
    finally:
        await engine.dispose()
    # The pooler really multiplexed: more clients than server connections, and each
    # client's transactions moved between server connections.
    assert len(set().union(*served_by)) <= pgbouncer.default_pool_size < CLIENTS
    assert all(len(backends) > 1 for backends in served_by)


async def test_psycopg_left_to_prepare_statements_breaks_behind_transaction_pooling(
    postgres_database: PostgresDatabase,
) -> None:
    """The failure the engine settings prevent, shown to be real on this PgBouncer."""
    engine = create_async_engine(postgres_database.url)  # psycopg's default prepare_threshold
    try:
        with pytest.raises(ExceptionGroup) as caught:
            await _run_clients(engine)
    finally:
        await engine.dispose()
    lost = caught.value.subgroup(lambda e: isinstance(e, DBAPIError) and "prepared statement" in str(e))
    assert lost is not None, caught.value.exceptions
