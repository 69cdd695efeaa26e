"""Each service's revisions produce exactly the tables its code declares, on SQLite and
on Postgres (through PgBouncer): the check a new revision must pass."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Column, MetaData, String, inspect
from switchboard_core.db import create_engine
from switchboard_core.migrations import MigrationSet, schema_diff, upgrade


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_an_empty_database_migrates_to_exactly_the_declared_schema(
    migrations: MigrationSet, database_url: str
) -> None:
    done = await upgrade(database_url, migrations)
    assert (done.before, done.after, done.adopted) == (None, migrations.heads()[0], False)
    assert await table_names(database_url) == {*migrations.metadata.tables, migrations.version_table}
    assert await schema_diff(database_url, migrations) == []


async def test_a_model_the_revisions_do_not_produce_shows_as_a_difference(
    migrations: MigrationSet, database_url: str
) -> None:
    await upgrade(database_url, migrations)
    changed = MetaData(naming_convention=migrations.metadata.naming_convention)
    for table in migrations.metadata.sorted_tables:
        table.to_metadata(changed)
    first = changed.sorted_tables[0]
    first.append_column(Column("added_later", String(10), nullable=True))
    differences = await schema_diff(database_url, with_metadata(migrations, changed))
    assert [(d[0], d[2], d[3].name) for d in differences] == [("add_column", first.name, "added_later")]


def with_metadata(migrations: MigrationSet, metadata: MetaData) -> MigrationSet:
    return replace(migrations, metadata=metadata)
