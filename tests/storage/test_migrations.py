"""Running the services' migrations: repeatable, side by side in one database, on
databases made before migrations, and by many migrators at once."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import pytest
from alembic import command
from sqlalchemy import MetaData, func, inspect, select, table, text
from sqlalchemy.exc import OperationalError
from switchboard_core.db import create_engine
from switchboard_core.migrations import (
    MigrationSet,
    SchemaConflict,
    SchemaNotCurrent,
    StartupPolicy,
    current_revision,
    prepare,
    schema_diff,
    upgrade,
)
from switchboard_core.settings import ServiceSettings
from switchboard_testing.plugin import PostgresDatabase
from switchboard_testing.ports import free_port

MIGRATORS = 4


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def scalar(url: str, statement) -> object:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.scalar(statement)
    finally:
        await engine.dispose()


async def test_upgrading_a_current_database_changes_nothing(
    migrations: MigrationSet, database_url: str
) -> None:
    first = await upgrade(database_url, migrations)
    again = await upgrade(database_url, migrations)
    assert first.changed and not again.changed
    assert again.before == again.after == migrations.heads()[0]


async def test_three_services_share_one_database_each_with_its_own_version_table(
    all_migrations: list[MigrationSet], database_url: str
) -> None:
    for migrations in all_migrations:
        await upgrade(database_url, migrations)
    names = await table_names(database_url)
    for migrations in all_migrations:
        assert migrations.version_table in names
        assert set(migrations.metadata.tables) <= names
        assert await current_revision(database_url, migrations) == migrations.heads()[0]
        # Each sees only its own tables: the others' are no difference of its.
        assert await schema_diff(database_url, migrations) == []


async def test_downgrading_one_service_leaves_the_others_tables(
    all_migrations: list[MigrationSet], database_url: str
) -> None:
    for migrations in all_migrations:
        await upgrade(database_url, migrations)
    gone, *kept = all_migrations
    engine = create_engine(database_url, migrations=True)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.downgrade(gone.config(sync), "base"))
    finally:
        await engine.dispose()
    names = await table_names(database_url)
    assert not set(gone.metadata.tables) & names
    for migrations in kept:
        assert set(migrations.metadata.tables) <= names
    assert await current_revision(database_url, gone) is None


def as_made_before_migrations(migrations: MigrationSet) -> MetaData:
    """The service's tables as `create_all` made them before there were migrations
    (no naming convention, no version table): the baseline's, as later revisions add the rest."""
    old = MetaData()
    for declared in migrations.metadata.sorted_tables:
        if declared.name in migrations.baseline_tables:
            declared.to_metadata(old)
    return old


async def test_a_database_made_before_migrations_is_adopted_keeping_what_it_holds(
    migrations: MigrationSet, database_url: str
) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(as_made_before_migrations(migrations).create_all)
            await conn.execute(text("CREATE TABLE kept_by_the_operator (note TEXT)"))
            await conn.execute(text("INSERT INTO kept_by_the_operator VALUES ('still here')"))
    finally:
        await engine.dispose()

    done = await upgrade(database_url, migrations)

    assert (done.before, done.after, done.adopted) == (None, migrations.heads()[0], True)
    assert await scalar(database_url, text("SELECT note FROM kept_by_the_operator")) == "still here"
    # What create_all made differs at most in the names of constraints and indexes.
    differences = await schema_diff(database_url, migrations)
    assert all(d[0] in NAMING_ONLY for d in differences), differences
    assert not (await upgrade(database_url, migrations)).adopted


NAMING_ONLY = {"add_constraint", "remove_constraint", "add_index", "remove_index", "add_fk", "remove_fk"}


async def test_a_database_holding_only_some_of_a_services_tables_is_refused(
    all_migrations: list[MigrationSet], database_url: str
) -> None:
    several = [m for m in all_migrations if len(m.baseline_tables) > 1]
    assert several
    for migrations in several:
        old = as_made_before_migrations(migrations)
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(old.create_all, tables=[old.sorted_tables[0]])
        finally:
            await engine.dispose()
        with pytest.raises(SchemaConflict, match=f"no {migrations.version_table}"):
            await upgrade(database_url, migrations)


def test_migrators_started_together_all_succeed_and_migrate_once(
    all_migrations: list[MigrationSet], database_url: str
) -> None:
    """Replicas of all three services start at once on one shared database."""
    env = {**os.environ} | {
        f"SWITCHBOARD_{m.service.upper()}_DATABASE_URL": database_url for m in all_migrations
    }
    command_line = [sys.executable, "-m", "switchboard_cli.main", "migrate"]
    runs = [
        subprocess.Popen(command_line, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(MIGRATORS)
    ]
    outputs = [run.communicate(timeout=90) for run in runs]
    assert [run.returncode for run in runs] == [0] * MIGRATORS, outputs
    lines = [line for out, _err in outputs for line in out.splitlines()]
    for migrations in all_migrations:
        mine = [line for line in lines if line.startswith(f"{migrations.service}: ")]
        assert len(mine) == MIGRATORS
        assert sum("migrated an empty database" in line for line in mine) == 1, mine
    for migrations in all_migrations:
        versions = asyncio.run(
            scalar(database_url, select(func.count()).select_from(table(migrations.version_table)))
        )
        assert versions == 1
        assert asyncio.run(schema_diff(database_url, migrations)) == []


async def test_a_migrator_waits_for_the_one_holding_the_migration_lock(
    migrations: MigrationSet, postgres_database: PostgresDatabase
) -> None:
    holder = create_engine(postgres_database.direct_url)
    try:
        async with holder.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": migrations.lock_key})
            waiting = asyncio.create_task(upgrade(postgres_database.url, migrations))
            async with asyncio.timeout(30):
                while True:
                    if await _someone_waits_for_lock(conn):
                        break
                    await asyncio.sleep(0.02)
            assert not waiting.done()
        # The holder's transaction ended: the lock is free.
        async with asyncio.timeout(30):
            done = await waiting
    finally:
        await holder.dispose()
    assert done.after == migrations.heads()[0]


async def _someone_waits_for_lock(conn) -> bool:
    waiting = await conn.scalar(
        text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    )
    return bool(waiting)


async def test_a_service_told_not_to_migrate_waits_until_someone_has(
    migrations: MigrationSet, database_url: str
) -> None:
    impatient = StartupPolicy(migrate=False, attempts=1, interval_s=0.01)
    with pytest.raises(SchemaNotCurrent, match=f"switchboard migrate {migrations.service}"):
        await prepare(database_url, migrations, impatient)

    patient = StartupPolicy(migrate=False, attempts=500, interval_s=0.01)
    waiting = asyncio.create_task(prepare(database_url, migrations, patient))
    await upgrade(database_url, migrations)
    async with asyncio.timeout(30):
        assert await waiting is None


async def test_an_unreachable_database_is_retried_with_backoff_then_given_up(
    migrations: MigrationSet, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = f"postgresql+psycopg://switchboard@127.0.0.1:{free_port()}/nothing"
    policy = StartupPolicy(attempts=3, interval_s=0.01)
    with caplog.at_level(logging.WARNING), pytest.raises(OperationalError):
        await prepare(nowhere, migrations, policy)
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert [r.getMessage().split(" (attempt ")[1][:3] for r in retries] == ["1/3", "2/3"]


def test_retry_and_migration_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DB_MAX_RETRIES", "DB_RETRY_INTERVAL_MS", "MIGRATE_ON_START"):
        monkeypatch.delenv(f"SWITCHBOARD_{name}", raising=False)
    assert StartupPolicy.of(ServiceSettings()) == StartupPolicy(migrate=True, attempts=30, interval_s=2.0)
    monkeypatch.setenv("SWITCHBOARD_DB_MAX_RETRIES", "5")
    monkeypatch.setenv("SWITCHBOARD_DB_RETRY_INTERVAL_MS", "250")
    monkeypatch.setenv("SWITCHBOARD_MIGRATE_ON_START", "false")
    assert StartupPolicy.of(ServiceSettings()) == StartupPolicy(migrate=False, attempts=5, interval_s=0.25)


async def test_a_database_migrated_by_a_newer_version_is_refused_with_the_reason(
    migrations: MigrationSet, database_url: str
) -> None:
    await upgrade(database_url, migrations)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"UPDATE {migrations.version_table} SET version_num = 'from_the_future'"))
    finally:
        await engine.dispose()
    with pytest.raises(SchemaNotCurrent, match="from_the_future, which this version does not know"):
        await upgrade(database_url, migrations)
