"""Refused attempts are audited with outcome `denied`: an admin change the caller may not
make (403) or a target they do not see (404), naming who, what, why and from where; a
failed login or a login to a locked account, naming the email tried and never the
password. A flood of refusals writes a bounded number of records and counts the rest."""

from __future__ import annotations

import orjson
import pytest
from switchboard_auth import AuthSettings
from switchboard_core.audit_refusals import SUPPRESSED_COUNTER
from switchboard_core.counters import COUNTERS

ADMIN_EMAIL = "root@example.com"  # as tests/auth/conftest.py bootstraps
ADMIN_PASSWORD = "correct horse battery staple"
DEV_PASSWORD = "a long enough password"


@pytest.fixture
def auth_settings(tmp_path, database_url: str) -> AuthSettings:
    """As the conftest's, locking an account after two wrong passwords."""
    return AuthSettings(
        data_dir=tmp_path,
        auth_database_url=database_url,
        bootstrap_admin_email=ADMIN_EMAIL,
        bootstrap_admin_password=ADMIN_PASSWORD,
        login_max_failures=2,
    )


def bearer(token: str) -> dict:
    return {"authorization": f"Bearer {token}", "user-agent": "refusal-test/1.0"}


async def _denied(auth, admin: str, **filters) -> list[dict]:
    response = await auth.http.get(
        "/auth/audit", params={"outcome": "denied", **filters}, headers=bearer(admin)
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()))


async def test_refused_admin_changes_are_recorded_as_denied_with_who_what_and_why(auth):
    admin = await auth.login()
    admin_id = (await auth.http.get("/auth/me", headers=bearer(admin))).json()["user_id"]
    dev_user = await auth.add_user(admin, "dev@example.com")
    dev = await auth.login("dev@example.com", DEV_PASSWORD)
    narrow = (
        await auth.http.post(
            "/auth/tokens", json={"name": "n", "scopes": ["tools.read"]}, headers=bearer(admin)
        )
    ).json()["access_token"]
    http = auth.http

    refused = [
        await http.patch(f"/auth/users/{admin_id}", json={"is_admin": False}, headers=bearer(dev)),
        await http.delete("/auth/teams/no-such-team", headers=bearer(dev)),
        await http.post("/auth/keys/rotate", headers=bearer(dev)),
        await http.post(
            "/auth/users",
            json={"email": "x@example.com", "password": "sneaky password!"},
            headers=bearer(dev),
        ),
        await http.post(
            "/auth/roles",
            json={"name": "runner", "description": "", "permissions": ["tools.read"]},
            headers=bearer(narrow),
        ),
    ]
    assert [r.status_code for r in refused] == [403, 404, 403, 403, 403]
    # Not recorded: a refused read, bad input, no caller at all.
    assert (await http.get(f"/auth/users/{admin_id}", headers=bearer(dev))).status_code == 403
    assert (
        await http.patch(f"/auth/users/{admin_id}", json={"is_admin": "x"}, headers=bearer(dev))
    ).status_code == 422
    assert (await http.delete(f"/auth/users/{admin_id}")).status_code == 401

    records = await _denied(auth, admin)
    assert [(r["action"], r["entity_type"], r["entity_id"]) for r in records] == [
        ("user.update", "user", admin_id),
        ("team.delete", "team", "no-such-team"),
        ("signing_key.rotate", "signing_key", ""),
        ("user.create", "user", ""),
        ("role.create", "role", ""),
    ]
    assert [r["changes"] for r in records] == [
        {"reason": "users.manage needs a platform administrator", "permission": "users.manage"},
        {"reason": "no team 'no-such-team'"},
        {"reason": "this action needs an administrator"},
        {"reason": "this action needs an administrator"},
        {"reason": "the token's scopes do not include roles.manage", "permission": "roles.manage"},
    ]
    for record in records[:4]:
        assert record["actor"]["user_id"] == dev_user["id"]
        assert record["actor"]["email"] == "dev@example.com"
    assert records[4]["actor"]["email"] == ADMIN_EMAIL
    for record in records:
        assert (record["outcome"], record["service"]) == ("denied", "auth")
        assert (record["client_ip"], record["user_agent"]) == ("127.0.0.1", "refusal-test/1.0")
    assert "sneaky password!" not in orjson.dumps(records).decode()
    # The log of changes is not muddled by the refusals.
    assert {
        r["outcome"]
        for r in (await http.get("/auth/audit", params={"outcome": "success"}, headers=bearer(admin))).json()
    } == {"success"}


async def test_failed_logins_and_the_lockout_are_recorded_without_the_password(auth):
    admin = await auth.login()
    dev = await auth.add_user(admin, "dev@example.com")

    async def login(email: str, password: str) -> int:
        response = await auth.http.post(
            "/auth/login", json={"email": email, "password": password}, headers={"user-agent": "login-test/2"}
        )
        return response.status_code

    assert await login("Dev@Example.com", "first wrong guess") == 401
    assert await login("dev@example.com", "second wrong guess") == 401  # locks the account
    assert await login("dev@example.com", DEV_PASSWORD) == 401  # locked: not even checked
    assert await login("nobody@example.com", "third wrong guess") == 401
    assert await login("my password in the email field", "x") == 401

    records = await _denied(auth, admin, action="user.login")
    assert [(r["actor"]["user_id"], r["actor"]["email"], r["entity_id"]) for r in records] == [
        (dev["id"], "dev@example.com", dev["id"]),
        (dev["id"], "dev@example.com", dev["id"]),
        (dev["id"], "dev@example.com", dev["id"]),
        ("", "nobody@example.com", ""),
        ("", "<not an email address>", ""),
    ]
    reasons = [r["changes"]["reason"] for r in records]
    assert reasons == ["wrong password", "wrong password", "account locked", "unknown email", "unknown email"]
    assert "locked_until" not in records[0]["changes"]
    assert records[1]["changes"]["locked_until"] == records[2]["changes"]["locked_until"]
    for record in records:
        assert (record["outcome"], record["entity_type"], record["service"]) == ("denied", "user", "auth")
        assert (record["client_ip"], record["user_agent"]) == ("127.0.0.1", "login-test/2")
    dumped = orjson.dumps(records).decode()
    leaked = ("guess", DEV_PASSWORD, "my password")
    assert not [secret for secret in leaked if secret in dumped]
    # A successful login is no admin change: it leaves no record.
    everything = await auth.http.get("/auth/audit", params={"action": "user.login"}, headers=bearer(admin))
    assert len(everything.json()) == len(records)


async def test_a_flood_of_refusals_writes_a_bounded_number_of_records_and_counts_the_rest(auth):
    admin = await auth.login()
    admin_id = (await auth.http.get("/auth/me", headers=bearer(admin))).json()["user_id"]
    await auth.add_user(admin, "dev@example.com")
    dev = await auth.login("dev@example.com", DEV_PASSWORD)
    suppressed_before = COUNTERS.get(SUPPRESSED_COUNTER)

    for _ in range(12):
        response = await auth.http.patch(
            f"/auth/users/{admin_id}", json={"is_admin": False}, headers=bearer(dev)
        )
        assert response.status_code == 403
    # Another action of the same caller has a bound of its own.
    assert (await auth.http.delete(f"/auth/users/{admin_id}", headers=bearer(dev))).status_code == 403

    records = await _denied(auth, admin)
    assert [r["action"] for r in records] == ["user.update"] * 5 + ["user.delete"]
    assert COUNTERS.get(SUPPRESSED_COUNTER) - suppressed_before == 7
