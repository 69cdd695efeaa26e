"""Gateways whose upstreams require credentials: registered, refreshed, changed and
rotated against a real upstream requiring them, without a secret ever leaving the
registry: not in an answer, not in the database in the clear, not in a log line or an
audit record."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select
from switchboard.registry.v1 import registry_pb2
from switchboard_core.db import create_engine
from switchboard_core.security.sealing import KEY_FILE, SecretKeys, kid_of, new_key_entry
from switchboard_registry import RegistrySettings
from switchboard_registry.offline import reseal_credentials
from switchboard_registry.store.tables import audit_outbox, gateways
from switchboard_testing.outbound import OUTBOUND_ALLOW
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

BEARER = "sk-bearer-8f2c41d0"
PASSWORD = "sk-basic-pw-77aa01"
API_KEY = "sk-header-key-3e9b"
CLIENT_SECRET = "sk-oauth-client-5c1d"
SECRETS = (BEARER, PASSWORD, API_KEY, CLIENT_SECRET)
BASIC = "Basic " + base64.b64encode(f"robot:{PASSWORD}".encode()).decode()

AUTHS = {
    "bearer": {"type": "bearer", "token": BEARER},
    "basic": {"type": "basic", "username": "robot", "password": PASSWORD},
    "headers": {"type": "headers", "headers": {"X-Api-Key": API_KEY}},
}
SHOWN = {
    "bearer": {"type": "bearer", "configured": True},
    "basic": {"type": "basic", "configured": True, "username": "robot"},
    "headers": {"type": "headers", "configured": True, "header_names": ["X-Api-Key"]},
}


@pytest.fixture(scope="module")
def gated() -> Iterator[UpstreamProcess]:
    accepted = (f"authorization: Bearer {BEARER}", f"authorization: {BASIC}", f"x-api-key: {API_KEY}")
    with start_upstream(name="gated", accept_headers=accepted) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def oauth() -> Iterator[UpstreamProcess]:
    with start_upstream(name="oauth", oauth_client=f"svc:{CLIENT_SECRET}", token_lifetime_s=60) as upstream:
        yield upstream


def oauth2(upstream: UpstreamProcess) -> dict:
    return {
        "type": "oauth2",
        "token_url": f"{upstream.base_url}/token",
        "client_id": "svc",
        "client_secret": CLIENT_SECRET,
        "scope": "tools",
    }


def assert_no_secret(text: str | bytes) -> None:
    text = text if isinstance(text, str) else text.decode("latin-1")
    for secret in SECRETS:
        assert secret not in text


async def raw_rows(database_url: str) -> tuple[list, list]:
    """The gateways' credential columns and the audit outbox's records, as stored."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            stored = (await connection.execute(select(gateways.c.auth_sealed, gateways.c.auth_public))).all()
            records = (await connection.execute(select(audit_outbox.c.record))).all()
    finally:
        await engine.dispose()
    return [tuple(row) for row in stored], [row.record for row in records]


@pytest.mark.parametrize("kind", ["bearer", "basic", "headers"])
async def test_a_gateway_registers_with_the_credentials_its_upstream_requires_and_shows_none(
    api: httpx.AsyncClient, gated: UpstreamProcess, database_url: str, caplog, kind: str
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await api.post("/gateways", json={"name": "crm", "url": gated.url, "auth": AUTHS[kind]})
    assert created.status_code == 201, created.text
    gateway = created.json()
    assert gateway["auth"] == SHOWN[kind]
    assert "crm__echo" in {tool["name"] for tool in gateway["tools"]}
    answers = [
        created,
        await api.get(f"/gateways/{gateway['id']}"),
        await api.get("/gateways"),
        await api.patch(f"/gateways/{gateway['id']}", json={"visibility": "public"}),
        await api.post(f"/gateways/{gateway['id']}/refresh"),
        await api.post(f"/gateways/{gateway['id']}/check"),
    ]
    for answer in answers:
        assert answer.status_code == 200 or answer is created, answer.text
        assert_no_secret(answer.text)
    assert (await api.get("/gateways")).json()["items"][0]["auth"] == SHOWN[kind]
    assert (await api.get(f"/gateways/{gateway['id']}")).json()["status"] == "available"

    stored, records = await raw_rows(database_url)
    [(sealed, shown)] = stored
    assert sealed.startswith("v1:") and shown == {k: v for k, v in SHOWN[kind].items() if k != "configured"}
    assert_no_secret(sealed + orjson.dumps(shown).decode())
    assert records
    for record in records:
        assert_no_secret(record)
    assert_no_secret(caplog.text)


async def test_registration_with_oauth2_fetches_a_token_and_shows_no_secret(
    api: httpx.AsyncClient, oauth: UpstreamProcess, database_url: str, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await api.post("/gateways", json={"name": "crm", "url": oauth.url, "auth": oauth2(oauth)})
    assert created.status_code == 201, created.text
    assert created.json()["auth"] == {
        "type": "oauth2",
        "configured": True,
        "token_url": f"{oauth.base_url}/token",
        "client_id": "svc",
        "scope": "tools",
    }
    refreshed = await api.post(f"/gateways/{created.json()['id']}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    stored, records = await raw_rows(database_url)
    assert_no_secret(orjson.dumps([list(row) for row in stored]) + b"".join(records))
    assert_no_secret(created.text + refreshed.text + caplog.text)


@pytest.mark.parametrize(
    ("auth", "why"),
    [
        (None, "HTTP 401"),
        ({"type": "bearer", "token": "sk-wrong-token"}, "HTTP 401"),
        ({"type": "basic", "username": "robot", "password": "sk-wrong-pw"}, "HTTP 401"),
    ],
    ids=["none", "wrong-bearer", "wrong-basic"],
)
async def test_registration_without_the_right_credentials_fails_clearly(
    api: httpx.AsyncClient, gated: UpstreamProcess, auth: dict | None, why: str
) -> None:
    body = {"name": "crm", "url": gated.url, **({"auth": auth} if auth else {})}
    refused = await api.post("/gateways", json=body)
    assert refused.status_code == 400
    assert why in refused.json()["detail"] and "could not register 'crm'" in refused.json()["detail"]
    assert "sk-wrong" not in refused.text
    assert (await api.get("/gateways")).json()["total"] == 0


async def test_oauth2_with_a_wrong_client_secret_fails_clearly(
    api: httpx.AsyncClient, oauth: UpstreamProcess
) -> None:
    auth = {**oauth2(oauth), "client_secret": "sk-wrong-secret"}
    refused = await api.post("/gateways", json={"name": "crm", "url": oauth.url, "auth": auth})
    assert refused.status_code == 400
    assert "refused the client credentials: HTTP 401 (invalid_client)" in refused.json()["detail"]
    assert "sk-wrong-secret" not in refused.text


async def test_an_oauth2_token_url_passes_the_outbound_guard(
    api: httpx.AsyncClient, oauth: UpstreamProcess
) -> None:
    metadata = {**oauth2(oauth), "token_url": "http://169.254.169.254/token"}
    refused = await api.post("/gateways", json={"name": "crm", "url": oauth.url, "auth": metadata})
    assert refused.status_code == 400
    assert "outbound connection refused" in refused.json()["detail"]
    not_http = {**oauth2(oauth), "token_url": "file:///etc/passwd"}
    refused = await api.post("/gateways", json={"name": "crm", "url": oauth.url, "auth": not_http})
    assert refused.status_code == 422 and "http:// or https://" in refused.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "kerberos", "token": BEARER},
        {"type": "bearer", "tokn": BEARER},
        {"type": "bearer", "token": BEARER, "extra": BEARER},
        {"type": "headers", "headers": {"Host": API_KEY}},
        {"type": "headers", "headers": {"Content-Length": API_KEY}},
        {"type": "headers", "headers": {"X-Key": API_KEY, "x-key": API_KEY}},
        {"type": "basic", "username": f"a:{PASSWORD}", "password": PASSWORD},
        {"type": "oauth2", "token_url": "https://idp.example/t", "client_secret": CLIENT_SECRET},
    ],
    ids=["unknown-type", "missing", "extra", "host", "content-length", "twice", "colon", "no-client-id"],
)
async def test_malformed_credentials_are_a_422_quoting_no_secret(
    api: httpx.AsyncClient, gated: UpstreamProcess, auth: dict
) -> None:
    refused = await api.post("/gateways", json={"name": "crm", "url": gated.url, "auth": auth})
    assert refused.status_code == 422
    assert refused.json()["detail"]
    assert_no_secret(refused.text)


async def test_patch_changes_and_removes_the_credentials(
    api: httpx.AsyncClient, gated: UpstreamProcess, database_url: str
) -> None:
    created = (
        await api.post("/gateways", json={"name": "crm", "url": gated.url, "auth": AUTHS["bearer"]})
    ).json()
    path = f"/gateways/{created['id']}"
    changed = await api.patch(path, json={"auth": AUTHS["basic"]})
    assert changed.status_code == 200 and changed.json()["auth"] == SHOWN["basic"]
    assert changed.json()["visibility"] == created["visibility"]
    assert (await api.post(f"{path}/refresh")).status_code == 200
    [(sealed, _)], _ = await raw_rows(database_url)

    removed = await api.patch(path, json={"auth": None})
    assert removed.status_code == 200 and removed.json()["auth"] is None
    refused = await api.post(f"{path}/refresh")
    assert refused.status_code == 502 and "HTTP 401" in refused.json()["detail"]
    [(gone, shown)], records = await raw_rows(database_url)
    assert gone is None and shown is None
    for record in records:
        assert_no_secret(record)
    assert b"gateway.auth" in b"".join(records) and b"basic" in b"".join(records)


async def test_changing_credentials_needs_the_right_to_change_the_gateway(
    api: httpx.AsyncClient, gated: UpstreamProcess
) -> None:
    body = {"name": "crm", "url": gated.url, "auth": AUTHS["bearer"], "visibility": "public"}
    created = (await api.post("/gateways", json=body)).json()
    as_user = {"authorization": "Bearer user-token"}
    refused = await api.patch(f"/gateways/{created['id']}", json={"auth": None}, headers=as_user)
    assert refused.status_code == 403
    seen = await api.get(f"/gateways/{created['id']}", headers=as_user)
    assert seen.json()["auth"] == SHOWN["bearer"]


async def test_the_catalog_carries_the_credentials_sealed_only(
    api: httpx.AsyncClient, gated: UpstreamProcess, registry_stub
) -> None:
    created = (
        await api.post("/gateways", json={"name": "crm", "url": gated.url, "auth": AUTHS["headers"]})
    ).json()
    catalog = await registry_stub.GetCatalog(registry_pb2.GetCatalogRequest())
    [upstream] = catalog.upstreams
    assert upstream.gateway_id == created["id"] and upstream.auth_sealed.startswith("v1:")
    assert_no_secret(catalog.SerializeToString())


async def test_rotation_reseals_with_the_new_key_and_an_unknown_key_fails_clearly(
    api: httpx.AsyncClient, gated: UpstreamProcess, database_url: str, tmp_path: Path
) -> None:
    created = (
        await api.post("/gateways", json={"name": "crm", "url": gated.url, "auth": AUTHS["bearer"]})
    ).json()
    old = (tmp_path / KEY_FILE).read_text().strip()  # the embedded registry's own key
    [(sealed, _)], _ = await raw_rows(database_url)
    assert kid_of(sealed) == old.split(":")[0]

    settings = RegistrySettings(
        data_dir=tmp_path,
        registry_database_url=database_url,
        outbound_allow=OUTBOUND_ALLOW.split(","),
        secret_keys=f"{new_key_entry('new')},{old}",
    )
    first = await reseal_credentials(settings)
    assert (first.resealed, first.current, first.unopened) == (1, 0, {})
    [(resealed, _)], _ = await raw_rows(database_url)
    assert kid_of(resealed) == "new" and resealed != sealed
    again = await reseal_credentials(settings)
    assert (again.resealed, again.current) == (0, 1)

    # The running registry knows only the old key: that gateway fails, naming it and the key.
    refused = await api.post(f"/gateways/{created['id']}/refresh")
    assert refused.status_code == 502
    assert "credentials of gateway 'crm' cannot be opened" in refused.json()["detail"]
    assert "'new'" in refused.json()["detail"]


async def test_with_no_key_to_seal_with_credentials_are_refused_clearly(
    api: httpx.AsyncClient, registry, gated: UpstreamProcess
) -> None:
    registry.upstreams.keys = SecretKeys()  # distributed mode without SWITCHBOARD_SECRET_KEYS
    refused = await api.post("/gateways", json={"name": "crm", "url": gated.url, "auth": AUTHS["bearer"]})
    assert refused.status_code == 400
    assert "set SWITCHBOARD_SECRET_KEYS" in refused.json()["detail"]
    assert (await api.get("/gateways")).json()["total"] == 0
