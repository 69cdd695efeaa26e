"""The audit log: each admin change of the auth service leaves one record naming who made
it, with which token, from where, what changed (never a secret); administrators query
it newest first with filters; other services append over gRPC, idempotently."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
import jwt
import orjson
import pytest
from sqlalchemy import update
from switchboard.auth.v1 import auth_pb2
from switchboard_auth.domain.signing_keys import KeyRing
from switchboard_auth.store.tables import api_tokens
from switchboard_core.audit import AuditEvent
from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.http.forwarded import ProxyTrust

ADMIN_EMAIL = "root@example.com"  # as tests/auth/conftest.py bootstraps
ADMIN_PASSWORD = "correct horse battery staple"

SECRETS = ("first password here", "second password here", "third password here")


def bearer(token: str, agent: str = "audit-test/1.0") -> dict:
    return {"authorization": f"Bearer {token}", "user-agent": agent}


async def _audit(auth, token: str, **filters) -> list[dict]:
    response = await auth.http.get("/auth/audit", params=filters, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def _token_id(token: str) -> str:
    return jwt.decode(token, options={"verify_signature": False})["jti"]


async def test_every_kind_of_admin_change_leaves_one_record_with_who_what_and_where(auth):
    admin = await auth.login()
    admin_id = (await auth.http.get("/auth/me", headers=bearer(admin))).json()["user_id"]
    http = auth.http

    created = await http.post(
        "/auth/users", json={"email": "dev@example.com", "password": SECRETS[0]}, headers=bearer(admin)
    )
    user = created.json()
    made = await http.post(
        "/auth/tokens", json={"name": "ci", "scopes": ["tools.read"]}, headers=bearer(admin)
    )
    token_id = made.json()["id"]
    steps = [
        await http.patch(f"/auth/users/{user['id']}", json={"is_admin": True}, headers=bearer(admin)),
        await http.patch(f"/auth/users/{user['id']}", json={"password": SECRETS[1]}, headers=bearer(admin)),
        await http.patch(f"/auth/users/{user['id']}", json={"unlock": True}, headers=bearer(admin)),
        await http.delete(f"/auth/tokens/{token_id}", headers=bearer(admin)),
        team := await http.post("/auth/teams", json={"name": "blue"}, headers=bearer(admin)),
    ]
    team_id = team.json()["id"]
    steps += [
        await http.patch(f"/auth/teams/{team_id}", json={"name": "green"}, headers=bearer(admin)),
        await http.post(
            f"/auth/teams/{team_id}/members",
            json={"email": "dev@example.com", "role": "viewer"},
            headers=bearer(admin),
        ),
        await http.patch(
            f"/auth/teams/{team_id}/members/{user['id']}", json={"role": "developer"}, headers=bearer(admin)
        ),
        await http.delete(f"/auth/teams/{team_id}/members/{user['id']}", headers=bearer(admin)),
        await http.delete(f"/auth/teams/{team_id}", headers=bearer(admin)),
        await http.post(
            "/auth/roles",
            json={"name": "auditor", "description": "reads", "permissions": ["metrics.read"]},
            headers=bearer(admin),
        ),
        await http.put(
            "/auth/roles/auditor",
            json={"description": "reads more", "permissions": ["metrics.read", "tools.read"]},
            headers=bearer(admin),
        ),
        await http.delete("/auth/roles/auditor", headers=bearer(admin)),
        await http.delete(f"/auth/users/{user['id']}", headers=bearer(admin)),
        await http.post(
            "/auth/me/password",
            json={"current_password": ADMIN_PASSWORD, "new_password": SECRETS[2]},
            headers=bearer(admin),
        ),
    ]
    assert all(step.status_code < 300 for step in steps), [s.text for s in steps if s.status_code >= 300]

    records = await _audit(auth, await auth.login(ADMIN_EMAIL, SECRETS[2]))
    assert [(r["action"], r["entity_type"], r["entity_id"]) for r in reversed(records)] == [
        ("user.create", "user", user["id"]),
        ("token.create", "token", token_id),
        ("user.update", "user", user["id"]),
        ("user.update", "user", user["id"]),
        ("user.update", "user", user["id"]),
        ("token.revoke", "token", token_id),
        ("team.create", "team", team_id),
        ("team.update", "team", team_id),
        ("team.member_add", "team", team_id),
        ("team.member_change", "team", team_id),
        ("team.member_remove", "team", team_id),
        ("team.delete", "team", team_id),
        ("role.create", "role", "auditor"),
        ("role.update", "role", "auditor"),
        ("role.delete", "role", "auditor"),
        ("user.delete", "user", user["id"]),
        ("user.password_change", "user", admin_id),
    ]
    by_action = {r["action"]: r for r in records}
    assert by_action["user.create"]["changes"] == {"email": "dev@example.com", "is_admin": False}
    assert by_action["token.create"]["changes"]["scopes"] == ["tools.read"]
    assert by_action["team.member_change"]["changes"]["role"] == ["viewer", "developer"]
    assert by_action["role.update"]["changes"]["permissions"] == ["metrics.read", "tools.read"]
    updates = [r["changes"] for r in reversed(records) if r["action"] == "user.update"]
    assert updates == [{"is_admin": [False, True]}, {"password": "<redacted>"}, {"unlocked": True}]
    for record in records:
        assert record["actor"] == {"user_id": admin_id, "email": ADMIN_EMAIL, "token_id": _token_id(admin)}
        assert record["service"] == "auth"
        assert record["outcome"] == "success"
        assert record["client_ip"] == "127.0.0.1"
        assert record["user_agent"] == "audit-test/1.0"
    dumped = orjson.dumps(records).decode()
    assert not [secret for secret in (*SECRETS, ADMIN_PASSWORD) if secret in dumped]
    assert made.json()["access_token"] not in dumped


async def test_only_administrators_read_the_audit_log(auth):
    admin = await auth.login()
    await auth.add_user(admin, "dev@example.com")
    dev = await auth.login("dev@example.com", "a long enough password")
    refused = await auth.http.get("/auth/audit", headers=bearer(dev))
    assert refused.status_code == 403, refused.text
    assert (await auth.http.get("/auth/audit")).status_code == 401
    # An administrator's token scoped without audit.read reads nothing either.
    scoped = await auth.http.post(
        "/auth/tokens", json={"name": "narrow", "scopes": ["tools.read"]}, headers=bearer(admin)
    )
    narrow = scoped.json()["access_token"]
    assert (await auth.http.get("/auth/audit", headers=bearer(narrow))).status_code == 403


async def test_the_log_is_filtered_by_actor_action_entity_and_time_and_paged_newest_first(auth):
    admin = await auth.login()
    first = await auth.add_user(admin, "one@example.com")
    await auth.add_user(admin, "two@example.com", is_admin=True)
    other_admin = await auth.login("two@example.com", "a long enough password")
    team = await auth.http.post("/auth/teams", json={"name": "red"}, headers=bearer(other_admin))
    assert team.status_code == 201

    assert [r["action"] for r in await _audit(auth, admin, actor="two@example.com")] == ["team.create"]
    created = await _audit(auth, admin, action="user.create")
    assert [r["changes"]["email"] for r in created] == ["two@example.com", "one@example.com"]
    assert [r["entity_id"] for r in await _audit(auth, admin, entity_type="user", entity_id=first["id"])] == [
        first["id"]
    ]
    assert [r["action"] for r in await _audit(auth, admin, entity_type="team")] == ["team.create"]

    page_one = await _audit(auth, admin, limit=2)
    page_two = await _audit(auth, admin, limit=2, offset=2)
    assert [r["action"] for r in page_one + page_two] == ["team.create", "user.create", "user.create"]
    # Times are compared as times: ISO 8601 drops a zero fraction, so the strings do not sort.
    times = [datetime.fromisoformat(r["at"]) for r in page_one + page_two]
    assert times == sorted(times, reverse=True)

    newest = times[0]
    assert [r["action"] for r in await _audit(auth, admin, since=newest.isoformat())] == ["team.create"]
    assert len(await _audit(auth, admin, until=newest.isoformat())) == 2
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await _audit(auth, admin, since=future) == []
    backwards = await auth.http.get(
        "/auth/audit", params={"since": future, "until": newest.isoformat()}, headers=bearer(admin)
    )
    assert backwards.status_code == 400


async def test_the_client_address_is_the_forwarded_one_only_behind_a_trusted_proxy(auth):
    admin = await auth.login()
    forwarded = {**bearer(admin), "x-forwarded-for": "203.0.113.7"}
    await auth.http.post("/auth/teams", json={"name": "untrusted"}, headers=forwarded)
    auth.app.state.trust = ProxyTrust(["127.0.0.1"])
    await auth.http.post("/auth/teams", json={"name": "trusted"}, headers=forwarded)
    records = await _audit(auth, admin, action="team.create")
    assert [(r["changes"]["name"], r["client_ip"]) for r in records] == [
        ("trusted", "203.0.113.7"),
        ("untrusted", "127.0.0.1"),
    ]


def _record(**changes) -> auth_pb2.AuditRecord:
    event = AuditEvent(
        action="gateway.create",
        entity_type="gateway",
        entity_id="g-1",
        actor_user_id="u-1",
        actor_email="someone@example.com",
        actor_token_id="t-1",
        changes=changes,
        client_ip="198.51.100.2",
        user_agent="curl/8",
        service="registry",
        at_ms=int(time.time() * 1000),
        id="5d6c1f8e-0000-4000-8000-000000000001",
    )
    return event.to_proto()


async def test_records_of_other_services_arrive_over_grpc_once_however_often_sent(auth):
    admin = await auth.login()
    nested = {"url": "http://up.example", "auth": {"client_secret": "cs-456", "scheme": "basic"}}
    record = _record(name="alpha", api_key="sk-live-123", upstream=nested)
    # Senders do not redact (the log does, as it writes): the secrets travel this far.
    assert AuditEvent.from_proto(record).changes["api_key"] == "sk-live-123"
    for _ in range(2):  # a retry after a lost answer
        await auth.stub.RecordAudit(auth_pb2.RecordAuditRequest(records=[record]), timeout=5)
    [stored] = await _audit(auth, admin, entity_type="gateway")
    assert stored["service"] == "registry"
    assert stored["actor"] == {"user_id": "u-1", "email": "someone@example.com", "token_id": "t-1"}
    assert stored["client_ip"] == "198.51.100.2"
    assert stored["changes"] == {
        "name": "alpha",
        "api_key": "<redacted>",
        "upstream": {"url": "http://up.example", "auth": {"client_secret": "<redacted>", "scheme": "basic"}},
    }

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await auth.stub.RecordAudit(
            auth_pb2.RecordAuditRequest(records=[auth_pb2.AuditRecord(action="x")]), timeout=5
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_record_of_another_service_is_stored_within_bounds_whatever_it_holds(auth):
    admin = await auth.login()
    event = AuditEvent.from_proto(_record(description="x" * 200_000))
    # Past every column and with NUL, which Postgres text refuses: stored cut and cleaned.
    odd = replace(event, entity_id="g\x00" + "1" * 300, user_agent="agent/" + "9" * 1000)
    await auth.stub.RecordAudit(auth_pb2.RecordAuditRequest(records=[odd.to_proto()]), timeout=5)
    [stored] = await _audit(auth, admin, entity_type="gateway")
    assert stored["entity_id"] == "g" + "1" * 199
    assert stored["user_agent"] == "agent/" + "9" * 494
    assert stored["changes"]["truncated"] is True
    assert stored["changes"]["size"] == 200_000 + len('{"description":""}')
    assert len(orjson.dumps(stored["changes"])) <= 64 * 1024

    # What no database can store is refused as invalid, for the sender to set aside.
    for refused in (
        replace(event, id="i" * 37),
        replace(event, id="5d6c1f8e-0000-4000-8000-000000000002", at_ms=2**62),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await auth.stub.RecordAudit(auth_pb2.RecordAuditRequest(records=[refused.to_proto()]), timeout=5)
        assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_rotating_and_retiring_keys_is_recorded_with_kid_and_algorithm_never_key_material(auth):
    admin = await auth.login()
    http = auth.http
    rotated = await http.post("/auth/keys/rotate", json={"publish_delay_s": 3600}, headers=bearer(admin))
    assert rotated.status_code == 201, rotated.text
    pending = rotated.json()
    assert (await http.post(f"/auth/keys/{pending['kid']}/retire", headers=bearer(admin))).status_code == 204

    # Retiring a spent key is the service's own doing (its refresh task calls `retire_due`).
    engine = create_engine(auth.settings.database_url)
    clock = _Clock()
    ring = KeyRing(
        sessionmaker(engine),
        clock,
        refresh=timedelta(seconds=30),
        clock_skew=timedelta(seconds=30),
        sealing=auth.settings.sealing_keys(),
    )
    try:
        await ring.load()
        old_kid = ring.signing().kid
        new = await ring.rotate(timedelta(0))
        clock.now += timedelta(minutes=5)
        async with sessionmaker(engine).begin() as session:
            await session.execute(
                update(api_tokens).where(api_tokens.c.kid == old_kid).values(revoked_at=clock.now)
            )
        assert await ring.retire_due() == [old_kid]
    finally:
        await engine.dispose()

    records = list(reversed(await _audit(auth, await auth.login(), entity_type="signing_key")))
    assert [(r["action"], r["entity_id"], r["actor"]["email"]) for r in records] == [
        ("signing_key.rotate", pending["kid"], ADMIN_EMAIL),
        ("signing_key.retire", pending["kid"], ADMIN_EMAIL),
        ("signing_key.rotate", new.kid, "system (auth service)"),
        ("signing_key.retire", old_kid, "system (auth service)"),
    ]
    assert records[0]["changes"] == {
        "alg": "ES256",
        "signs_from": pending["signs_from"].replace("Z", "+00:00"),
    }
    assert records[1]["changes"] == {"alg": "ES256", "reason": "retired by an administrator"}
    assert records[3]["changes"] == {"alg": "ES256", "reason": "every token it signed is over"}
    assert {r["outcome"] for r in records} == {"success"}
    dumped = orjson.dumps(records).decode()
    assert "PRIVATE KEY" not in dumped and '"d"' not in dumped and '"x"' not in dumped


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now
