"""Users: lockout after repeated failed logins, password changes, and administrators
managing users (never leaving the platform without one)."""

from __future__ import annotations

import pytest
from switchboard_auth import AuthSettings

PASSWORD = "a long enough password"


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def auth_settings(auth_settings: AuthSettings) -> AuthSettings:
    return auth_settings.model_copy(update={"login_max_failures": 3, "login_lockout_s": 600})


async def _login(auth, email: str, password: str):
    return await auth.http.post("/auth/login", json={"email": email, "password": password})


async def test_an_account_locks_after_the_allowed_failures_and_refuses_even_the_right_password(auth):
    admin = await auth.login()
    await auth.add_user(admin, "dev@example.com", PASSWORD)
    for _ in range(3):
        assert (await _login(auth, "dev@example.com", "wrong")).json()[
            "detail"
        ] == "invalid email or password"
    locked = await _login(auth, "dev@example.com", PASSWORD)
    assert locked.status_code == 401
    assert locked.json()["detail"].startswith("account locked after repeated failed logins; try again in")


async def test_a_good_login_clears_the_failures_before_the_limit(auth):
    admin = await auth.login()
    await auth.add_user(admin, "dev@example.com", PASSWORD)
    for _ in range(2):
        await _login(auth, "dev@example.com", "wrong")
    assert (await _login(auth, "dev@example.com", PASSWORD)).status_code == 200
    for _ in range(2):
        await _login(auth, "dev@example.com", "wrong")
    assert (await _login(auth, "dev@example.com", PASSWORD)).status_code == 200


async def test_an_administrator_unlocks_a_locked_account(auth):
    admin = await auth.login()
    user = await auth.add_user(admin, "dev@example.com", PASSWORD)
    for _ in range(3):
        await _login(auth, "dev@example.com", "wrong")
    detail = await auth.http.get(f"/auth/users/{user['id']}", headers=bearer(admin))
    assert detail.json()["locked_until"] is not None
    unlocked = await auth.http.patch(
        f"/auth/users/{user['id']}", json={"unlock": True}, headers=bearer(admin)
    )
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["locked_until"] is None
    assert (await _login(auth, "dev@example.com", PASSWORD)).status_code == 200


async def test_a_password_change_needs_the_current_one_and_ends_every_login(auth):
    admin = await auth.login()
    await auth.add_user(admin, "dev@example.com", PASSWORD)
    first, second = [
        (await _login(auth, "dev@example.com", PASSWORD)).json()["access_token"] for _ in range(2)
    ]
    change = {"current_password": "wrong guess at it", "new_password": "a brand new passphrase"}
    refused = await auth.http.post("/auth/me/password", json=change, headers=bearer(first))
    assert refused.status_code == 403
    change["current_password"] = PASSWORD
    assert (await auth.http.post("/auth/me/password", json=change, headers=bearer(first))).status_code == 204

    for token in (first, second):
        assert "revoked" in await auth.rejection(token)
    assert (await _login(auth, "dev@example.com", PASSWORD)).status_code == 401
    assert (await _login(auth, "dev@example.com", "a brand new passphrase")).status_code == 200


async def test_an_api_token_outlives_a_password_change(auth):
    admin = await auth.login()
    await auth.add_user(admin, "dev@example.com", PASSWORD)
    login = (await _login(auth, "dev@example.com", PASSWORD)).json()["access_token"]
    minted = await auth.http.post("/auth/tokens", json={"name": "ci"}, headers=bearer(login))
    api_token = minted.json()["access_token"]
    change = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    assert (await auth.http.post("/auth/me/password", json=change, headers=bearer(login))).status_code == 204
    assert (await auth.authenticate(api_token)).email == "dev@example.com"


async def test_a_short_new_password_is_refused(auth):
    token = await auth.login()
    change = {"current_password": "correct horse battery staple", "new_password": "short"}
    assert (await auth.http.post("/auth/me/password", json=change, headers=bearer(token))).status_code == 422


async def test_an_administrator_promotes_demotes_resets_and_deletes_users(auth):
    admin = await auth.login()
    user = await auth.add_user(admin, "dev@example.com", PASSWORD)
    dev = (await _login(auth, "dev@example.com", PASSWORD)).json()["access_token"]

    promoted = await auth.http.patch(
        f"/auth/users/{user['id']}", json={"is_admin": True}, headers=bearer(admin)
    )
    assert promoted.json()["is_admin"] is True
    assert (await auth.authenticate(dev)).is_admin  # no new token needed

    reset = await auth.http.patch(
        f"/auth/users/{user['id']}", json={"password": "set by the administrator"}, headers=bearer(admin)
    )
    assert reset.status_code == 200 and reset.json()["password_changed_at"] is not None
    assert "revoked" in await auth.rejection(dev)
    dev = (await _login(auth, "dev@example.com", "set by the administrator")).json()["access_token"]

    deleted = await auth.http.delete(f"/auth/users/{user['id']}", headers=bearer(admin))
    assert deleted.status_code == 204
    assert (await auth.http.get(f"/auth/users/{user['id']}", headers=bearer(admin))).status_code == 404
    assert await auth.rejection(dev) == "token is not known to this issuer"


async def test_the_last_administrator_can_be_neither_demoted_nor_deleted(auth):
    admin = await auth.login()
    me = (await auth.http.get("/auth/me", headers=bearer(admin))).json()["user_id"]
    demoted = await auth.http.patch(f"/auth/users/{me}", json={"is_admin": False}, headers=bearer(admin))
    assert demoted.status_code == 409, demoted.text
    assert (await auth.http.delete(f"/auth/users/{me}", headers=bearer(admin))).status_code == 409
    other = await auth.add_user(admin, "second@example.com", PASSWORD, is_admin=True)
    assert (
        await auth.http.patch(f"/auth/users/{me}", json={"is_admin": False}, headers=bearer(admin))
    ).status_code == 200
    assert other["is_admin"]


async def test_users_other_than_administrators_manage_no_one(auth):
    admin = await auth.login()
    first = await auth.add_user(admin, "dev@example.com", PASSWORD)
    other = await auth.add_user(admin, "other@example.com", PASSWORD)
    dev = (await _login(auth, "dev@example.com", PASSWORD)).json()["access_token"]
    assert (await auth.http.get(f"/auth/users/{first['id']}", headers=bearer(dev))).status_code == 200
    assert (await auth.http.get(f"/auth/users/{other['id']}", headers=bearer(dev))).status_code == 403
    patched = await auth.http.patch(
        f"/auth/users/{first['id']}", json={"is_admin": True}, headers=bearer(dev)
    )
    assert patched.status_code == 403
    assert (await auth.http.delete(f"/auth/users/{other['id']}", headers=bearer(dev))).status_code == 403
