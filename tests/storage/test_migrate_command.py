"""`switchboard migrate [SERVICE...]` brings the named services' databases (all three by
default) to this version's schema; `--check` only reports."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from switchboard_auth.domain import key_material
from switchboard_auth.migrations import MIGRATIONS as AUTH
from switchboard_auth.store.tables import signing_keys
from switchboard_core.db import create_engine
from switchboard_core.migrations import upgrade
from switchboard_core.security.sealing import SecretKeys, new_key_entry
from switchboard_metrics.migrations import MIGRATIONS as METRICS
from switchboard_registry.migrations import MIGRATIONS as REGISTRY
from switchboard_testing.ports import free_port

from switchboard_cli.main import main

SERVICES = ("auth", "registry", "metrics")
# The revision each service's code needs.
HEAD = {m.service: m.heads()[0] for m in (AUTH, REGISTRY, METRICS)}


@pytest.fixture(autouse=True)
def own_umask_kept() -> Iterator[None]:
    """`main` makes its process's files owner-only (its umask): the test worker's comes back."""
    before = os.umask(0o077)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture
def shared_database(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Every service's database URL set to one fresh database (and the data directory,
    where auth's sealing key is made, to a fresh one)."""
    for service in SERVICES:
        monkeypatch.setenv(f"SWITCHBOARD_{service.upper()}_DATABASE_URL", database_url)
    monkeypatch.setenv("SWITCHBOARD_DB_MAX_RETRIES", "1")
    monkeypatch.setenv("SWITCHBOARD_DATA_DIR", str(tmp_path))
    return database_url


def test_migrate_with_no_service_named_migrates_all_three(
    shared_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--check"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{service}: at no revision, this version needs {HEAD[service]}" for service in SERVICES
    ]
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{service}: migrated an empty database -> {HEAD[service]}" for service in SERVICES
    ]
    assert main(["migrate", "--check"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{service}: up to date at {HEAD[service]}" for service in SERVICES
    ]


def test_migrate_touches_only_the_services_named(
    shared_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "registry"]) == 0
    capsys.readouterr()
    assert main(["migrate", "--check", "auth", "registry"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"auth: at no revision, this version needs {HEAD['auth']}",
        f"registry: up to date at {HEAD['registry']}",
    ]


def test_migrate_rejects_a_service_without_a_database(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["migrate", "mcp-proxy"])
    assert exited.value.code == 2
    assert "'mcp-proxy' has no database" in capsys.readouterr().err


def test_migrate_reports_an_unreachable_database_and_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql+psycopg://switchboard@127.0.0.1:{free_port()}/nothing"
    monkeypatch.setenv("SWITCHBOARD_METRICS_DATABASE_URL", url)
    monkeypatch.setenv("SWITCHBOARD_DB_MAX_RETRIES", "1")
    assert main(["migrate", "metrics"]) == 1
    assert capsys.readouterr().err.startswith("metrics: error: ")


async def test_migrating_auth_seals_keys_stored_in_clear_with_the_secret_keys_and_fails_without(
    shared_database: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await upgrade(shared_database, AUTH, "0006")
    pair = key_material.generate("ES256")
    engine = create_engine(shared_database)
    try:
        async with engine.begin() as conn:
            row = {"kid": pair.kid, "alg": "ES256", "private_key_pem": pair.private_pem}
            await conn.execute(
                insert(signing_keys).values(**row, public_jwk="{}", created_at=datetime.now(UTC), active=True)
            )
        # Apart (replicas sharing Redis), without the list: nothing to seal with.
        monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "redis://127.0.0.1:1/0")
        assert await asyncio.to_thread(main, ["migrate", "auth"]) == 1
        assert "auth: error: auth migration 0007 must seal" in capsys.readouterr().err

        entry = new_key_entry("k1")
        monkeypatch.setenv("SWITCHBOARD_SECRET_KEYS", entry)
        assert await asyncio.to_thread(main, ["migrate", "auth"]) == 0
        assert capsys.readouterr().out.splitlines() == [f"auth: migrated 0006 -> {HEAD['auth']}"]
        async with engine.connect() as conn:
            stored = (await conn.execute(select(signing_keys.c.private_key_pem))).scalar_one()
    finally:
        await engine.dispose()
    assert stored.startswith("v1:k1:")
    assert key_material.open_private(SecretKeys.parse(entry), pair.kid, stored) == pair.private_pem
