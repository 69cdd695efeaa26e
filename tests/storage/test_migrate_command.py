"""`switchboard migrate [SERVICE...]` brings the named services' databases (all three by
default) to this version's schema; `--check` only reports."""

from __future__ import annotations

import pytest
from switchboard_auth.migrations import MIGRATIONS as AUTH
from switchboard_metrics.migrations import MIGRATIONS as METRICS
from switchboard_registry.migrations import MIGRATIONS as REGISTRY
from switchboard_testing.ports import free_port

from switchboard_cli.main import main

SERVICES = ("auth", "registry", "metrics")
# The revision each service's code needs.
HEAD = {m.service: m.heads()[0] for m in (AUTH, REGISTRY, METRICS)}


@pytest.fixture
def shared_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every service's database URL set to one fresh database."""
    for service in SERVICES:
        monkeypatch.setenv(f"SWITCHBOARD_{service.upper()}_DATABASE_URL", database_url)
    monkeypatch.setenv("SWITCHBOARD_DB_MAX_RETRIES", "1")
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
