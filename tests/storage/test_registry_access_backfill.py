"""Registry revision 0002: rows made before owners and teams existed stay visible to
everyone signed in (public), owned by whoever registered them, in no team."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import text
from switchboard_core.db import create_engine
from switchboard_core.migrations import schema_diff, upgrade
from switchboard_registry.migrations import MIGRATIONS

NOW = datetime(2026, 11, 30, tzinfo=UTC)


async def test_rows_made_before_0002_become_public_owned_by_their_registrant(database_url: str) -> None:
    await upgrade(database_url, MIGRATIONS, "0001")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO gateways (id, name, url, created_at, created_by, last_refreshed_at, "
                    "server_info, capabilities) VALUES ('g1', 'alpha', 'http://a/mcp', :now, 'u-ops', :now, '{}', '{}')"
                ),
                {"now": NOW},
            )
            for table, key in (("tools", "name"), ("prompts", "name"), ("resources", "uri")):
                await conn.execute(
                    text(
                        f"INSERT INTO {table} (id, gateway_id, {key}, definition_json) VALUES ('i1', 'g1', 'k', '{{}}')"
                    )
                )
            await conn.execute(
                text(
                    "INSERT INTO servers (id, name, description, naming_mode, separator, renames, created_at, "
                    "created_by) VALUES ('s1', 'srv', '', 'prefix', '__', '{}', :now, 'u-composer')"
                ),
                {"now": NOW},
            )

        await upgrade(database_url, MIGRATIONS)

        async with engine.connect() as conn:
            access = {
                table: tuple(
                    (await conn.execute(text(f"SELECT owner_id, team_id, visibility FROM {table}"))).one()
                )
                for table in ("gateways", "tools", "prompts", "resources", "servers")
            }
    finally:
        await engine.dispose()
    assert access == {
        "gateways": ("u-ops", "", "public"),
        "tools": ("u-ops", "", "public"),
        "prompts": ("u-ops", "", "public"),
        "resources": ("u-ops", "", "public"),
        "servers": ("u-composer", "", "public"),
    }
    assert await schema_diff(database_url, MIGRATIONS) == []


async def test_downgrading_0002_keeps_every_row(database_url: str) -> None:
    await upgrade(database_url, MIGRATIONS)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO gateways (id, name, url, created_at, created_by, last_refreshed_at, server_info, "
                    "capabilities, owner_id, team_id, visibility) "
                    "VALUES ('g1', 'alpha', 'http://a/mcp', :now, 'u', :now, '{}', '{}', 'u', 't', 'team')"
                ),
                {"now": NOW},
            )
            await conn.execute(
                text(
                    "INSERT INTO tools (id, gateway_id, name, definition_json) VALUES ('i1', 'g1', 'k', '{}')"
                )
            )
        migrating = create_engine(database_url, migrations=True)
        try:
            async with migrating.begin() as conn:
                await conn.run_sync(lambda sync: command.downgrade(MIGRATIONS.config(sync), "0001"))
        finally:
            await migrating.dispose()
        async with engine.connect() as conn:
            counts = [await conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in ("gateways", "tools")]
    finally:
        await engine.dispose()
    assert counts == [1, 1]
