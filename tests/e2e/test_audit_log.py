"""The audit log through a running gateway: an auth change and a registry change, each
recorded once with who made it and from where, read back by an administrator."""

from __future__ import annotations

import time

import httpx
import jwt
from switchboard_testing.admin_api import register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.upstream_process import UpstreamProcess


def _audit(admin: httpx.Client, **filters) -> list[dict]:
    response = admin.get("/auth/audit", params=filters)
    assert response.status_code == 200, response.text
    return response.json()


def test_auth_and_registry_changes_are_read_back_from_the_audit_log(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str, fixture_upstream: UpstreamProcess
) -> None:
    token_id = jwt.decode(admin_token, options={"verify_signature": False})["jti"]
    team = admin.post("/auth/teams", json={"name": "audited"})
    assert team.status_code == 201, team.text
    gateway_id = register(admin, "audited", fixture_upstream.url)["id"]

    deadline = time.monotonic() + 10
    while not (records := _audit(admin, entity_type="gateway", entity_id=gateway_id)):
        assert time.monotonic() < deadline, "the registry's record did not reach the log"
        time.sleep(0.05)
    [created] = records
    assert (created["service"], created["action"]) == ("registry", "gateway.create")
    [team_created] = _audit(admin, action="team.create", entity_id=team.json()["id"])
    for record in (created, team_created):
        assert record["actor"]["token_id"] == token_id
        assert record["client_ip"] == "127.0.0.1"
        assert record["user_agent"].startswith("python-httpx/")
