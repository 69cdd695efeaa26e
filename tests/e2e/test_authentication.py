"""Every MCP and admin request needs a valid bearer token."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
import pytest
from switchboard_testing.gateway_process import ADMIN_EMAIL, ADMIN_PASSWORD, GatewayProcess
from switchboard_testing.mcp_http import McpHttp

PROTECTED = [
    ("GET", "/gateways"),
    ("GET", "/tools"),
    ("GET", "/servers"),
    ("GET", "/metrics/tools"),
    ("POST", "/mcp"),
]


def _tampered(token: str) -> str:
    head, payload, signature = token.split(".")
    flipped = "A" if signature[5] != "A" else "B"
    return f"{head}.{payload}.{signature[:5]}{flipped}{signature[6:]}"


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_request_without_token_is_401_with_bearer_challenge(
    gateway: GatewayProcess, method: str, path: str
) -> None:
    response = httpx.request(
        method, gateway.base_url + path, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_tampered_token_is_401(gateway: GatewayProcess, admin_token: str, method: str, path: str) -> None:
    response = httpx.request(
        method,
        gateway.base_url + path,
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"authorization": f"Bearer {_tampered(admin_token)}"},
    )
    assert response.status_code == 401


def test_expired_token_is_401(gateway: GatewayProcess) -> None:
    # A token whose lifetime is already over when it is minted.
    token = gateway.cli("token", "create", "--ttl-days", "-1").stdout.strip()
    response = httpx.get(f"{gateway.base_url}/gateways", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_cli_token_is_accepted_everywhere(gateway: GatewayProcess, admin_token: str) -> None:
    headers = {"authorization": f"Bearer {admin_token}"}
    assert httpx.get(f"{gateway.base_url}/gateways", headers=headers).status_code == 200
    assert httpx.get(f"{gateway.base_url}/auth/me", headers=headers).json()["email"] == ADMIN_EMAIL


def test_login_returns_a_working_token(gateway: GatewayProcess) -> None:
    login = httpx.post(
        f"{gateway.base_url}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200
    client = McpHttp(f"{gateway.base_url}/mcp", login.json()["access_token"])
    assert client.initialize()["serverInfo"]["name"] == "switchboard"
    assert client.request("ping")["result"] == {}


def test_login_with_wrong_password_is_401(gateway: GatewayProcess) -> None:
    login = httpx.post(f"{gateway.base_url}/auth/login", json={"email": ADMIN_EMAIL, "password": "nope"})
    assert login.status_code == 401


def test_cli_token_create_names_and_limits_the_token(gateway: GatewayProcess) -> None:
    token = gateway.cli(
        "token", "create", "--name", "ci-pipeline", "--expires-in-days", "2",
        "--scope", "tools.read", "--scope", "servers.use",
        "--server", "some-server", "--cidr", "127.0.0.0/8",
    ).stdout.strip()  # fmt: skip
    headers = {"authorization": f"Bearer {token}"}
    me = httpx.get(f"{gateway.base_url}/auth/me", headers=headers).json()
    assert (me["scopes"], me["servers"], me["cidrs"]) == (
        ["servers.use", "tools.read"],
        ["some-server"],
        ["127.0.0.0/8"],
    )
    listed = httpx.get(f"{gateway.base_url}/auth/tokens", headers=headers).json()
    (mine,) = [t for t in listed if t["id"] == me["token_id"]]
    assert mine["name"] == "ci-pipeline"
    # Listed with its last use (the /auth/me above).
    assert mine["last_used_at"] is not None
    lifetime = datetime.fromisoformat(mine["expires_at"]) - datetime.fromisoformat(mine["created_at"])
    assert lifetime == timedelta(days=2)


def test_cli_token_create_refuses_an_unknown_scope(gateway: GatewayProcess) -> None:
    result = gateway.cli("token", "create", "--scope", "no.such", check=False)
    assert result.returncode == 1 and "no.such" in result.stderr


def test_cli_keys_rotate_and_list(gateway: GatewayProcess, admin_token: str) -> None:
    rotated = json.loads(
        gateway.cli("keys", "rotate", "--publish-delay", "3600", "--token", admin_token).stdout
    )
    assert rotated["state"] == "pending"
    listed = json.loads(gateway.cli("keys", "list", "--token", admin_token).stdout)
    assert rotated["kid"] in {key["kid"] for key in listed}
    assert all("private" not in json.dumps(key) for key in listed)
