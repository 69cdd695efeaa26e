"""The first administrator, and the CLI's offline helpers on the auth database."""

from __future__ import annotations

import pytest
from switchboard_auth import AuthService, AuthSettings
from switchboard_auth.offline import create_token, ensure_bootstrap
from switchboard_core.errors import InvalidInput, NotFound
from switchboard_core.service import Runtime


async def test_the_configured_bootstrap_admin_exists_and_can_log_in(auth):
    principal = await auth.authenticate(await auth.login("root@example.com", "correct horse battery staple"))
    assert principal.is_admin


async def start_and_stop(settings: AuthSettings) -> None:
    service = AuthService(settings)
    await service.start(Runtime(settings))
    await service.drain()
    await service.stop()


async def test_a_generated_admin_password_is_printed_once_and_never_again(tmp_path, database_url, capsys):
    settings = AuthSettings(
        data_dir=tmp_path, auth_database_url=database_url, bootstrap_admin_email="ops@example.com"
    )

    await start_and_stop(settings)
    first = capsys.readouterr().err
    assert "ops@example.com" in first and "shown only this once" in first
    password = first.split("password:")[1].split()[0]
    assert len(password) >= 20

    await start_and_stop(settings)
    assert password not in capsys.readouterr().err

    token, _ = await create_token(settings, email="ops@example.com", name="check", ttl_days=1)
    assert token


async def test_the_generated_password_logs_in(tmp_path, database_url):
    settings = AuthSettings(data_dir=tmp_path, auth_database_url=database_url)
    password = await ensure_bootstrap(settings)
    assert password
    assert await ensure_bootstrap(settings) is None

    service = AuthService(settings)
    await service.start(Runtime(settings))
    try:
        issued = await service.accounts.login("admin@example.com", password)
        assert (await service.accounts.authenticate(issued.access_token)).is_admin
    finally:
        await service.stop()


async def test_an_offline_token_authenticates_over_grpc(auth):
    token, expires_at = await create_token(auth.settings, email="root@example.com", name="cli", ttl_days=3)
    principal = await auth.authenticate(token)
    assert principal.email == "root@example.com"
    assert principal.expires_at == int(expires_at.timestamp())
    listed = (await auth.http.get("/auth/tokens", headers={"authorization": f"Bearer {token}"})).json()
    assert "cli" in [t["name"] for t in listed]


async def test_an_offline_token_for_an_unknown_user_is_not_found(auth_settings):
    with pytest.raises(NotFound, match="nobody@example.com"):
        await create_token(auth_settings, email="nobody@example.com", name="cli", ttl_days=None)


async def test_an_offline_token_on_a_fresh_database_prints_the_generated_admin_password(
    tmp_path, database_url, capsys
):
    settings = AuthSettings(data_dir=tmp_path, auth_database_url=database_url)
    token, _ = await create_token(settings, email="admin@example.com", name="first", ttl_days=None)
    assert token
    assert "shown only this once" in capsys.readouterr().err


async def test_an_offline_token_may_be_minted_already_expired(auth):
    token, _ = await create_token(auth.settings, email="root@example.com", name="expired", ttl_days=-1)
    assert "expired" in await auth.rejection(token)


async def test_an_offline_token_lifetime_is_bounded(auth_settings):
    with pytest.raises(InvalidInput):
        await create_token(auth_settings, email="root@example.com", name="cli", ttl_days=100_000)


def test_a_short_bootstrap_password_is_refused_in_production(tmp_path):
    with pytest.raises(ValueError, match="at least 12"):
        AuthSettings(environment="production", bootstrap_admin_password="short")


def test_settings_read_their_environment_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("SWITCHBOARD_AUTH_DATABASE_URL", "sqlite+aiosqlite:////tmp/elsewhere.db")
    monkeypatch.setenv("SWITCHBOARD_BOOTSTRAP_ADMIN_EMAIL", "boss@example.com")
    monkeypatch.setenv("SWITCHBOARD_LOGIN_TOKEN_TTL_S", "60")
    settings = AuthSettings(data_dir=tmp_path)
    assert settings.database_url == "sqlite+aiosqlite:////tmp/elsewhere.db"
    assert settings.bootstrap_admin_email == "boss@example.com"
    assert settings.login_token_ttl_s == 60
    assert AuthSettings(data_dir=tmp_path, auth_database_url="").database_url.endswith("/auth.db")
