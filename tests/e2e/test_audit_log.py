"""The audit log through a running gateway: an auth change and a registry change, each
recorded once with who made it and from where, read back by an administrator."""

from __future__ import annotations

import time

import httpx
import jwt
import orjson
from switchboard_testing.admin_api import register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.readiness import eventually
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


def test_a_change_past_the_record_bound_is_read_back_cut_down_with_its_size() -> None:
    # The bound set once for the whole gateway: the registry keeps the record cut down,
    # auth stores it so, and an administrator reads what was cut and how large it was.
    with (
        start_gateway({"SWITCHBOARD_AUDIT_RECORD_MAX_BYTES": "1024"}) as gateway,
        httpx.Client(
            base_url=gateway.base_url, headers={"authorization": f"Bearer {gateway.mint_token()}"}, timeout=30
        ) as admin,
    ):
        description = "many words " * 300
        server = admin.post("/servers", json={"name": "wordy", "description": description})
        assert server.status_code == 201, server.text

        [record] = eventually(
            lambda: _audit(admin, action="server.create", entity_id=server.json()["id"]),
            what="the server's record in the audit log",
        )
        changes = record["changes"]
        assert (changes["truncated"], changes["name"]) == (True, "wordy")
        assert changes["size"] > len(description)
        assert description.startswith(changes["description"].removesuffix("…"))
        assert len(orjson.dumps(changes)) <= 1024
