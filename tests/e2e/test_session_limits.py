"""What one user may make a gateway keep for them is bounded: at most
`SWITCHBOARD_MAX_SESSIONS_PER_USER` open sessions (Streamable HTTP and legacy SSE alike;
past it 429 with `Retry-After`, a slot freed by DELETE), and an initialize whose
clientInfo and capabilities exceed `SWITCHBOARD_MAX_SESSION_STATE_BYTES` is refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from switchboard_testing import people
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.mcp_http import McpHttp

LIMIT = 3
STATE_BYTES = 1024


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    env = {
        "SWITCHBOARD_MAX_SESSIONS_PER_USER": str(LIMIT),
        "SWITCHBOARD_MAX_SESSION_STATE_BYTES": str(STATE_BYTES),
    }
    with start_gateway(env) as process:
        yield process


def _initialize(gateway: GatewayProcess, token: str, client_info: dict | None = None) -> httpx.Response:
    mcp = McpHttp(f"{gateway.base_url}/mcp", token)
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": client_info or {"name": "t"}}
    return mcp.post({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params})


def _initialize_until_refused(gateway: GatewayProcess, token: str) -> int:
    status = 200
    for _ in range(LIMIT + 1):
        status = _initialize(gateway, token).status_code
        if status != 200:
            break
    return status


def _delete(gateway: GatewayProcess, token: str, session_id: str) -> int:
    mcp = McpHttp(f"{gateway.base_url}/mcp", token)
    mcp.session_id = session_id
    return httpx.delete(mcp.url, headers=mcp.headers(), timeout=30).status_code


def test_a_users_session_past_the_limit_gets_429_until_one_is_deleted(gateway: GatewayProcess) -> None:
    token = gateway.mint_token()
    opened = [_initialize(gateway, token) for _ in range(LIMIT)]
    assert [r.status_code for r in opened] == [200] * LIMIT
    sessions = [r.headers["mcp-session-id"] for r in opened]

    refused = _initialize(gateway, gateway.mint_token())  # another token of the same user
    assert refused.status_code == 429, refused.text
    assert "mcp-session-id" not in refused.headers
    retry_after = int(refused.headers["retry-after"])
    assert 0 < retry_after <= 3600
    error = refused.json()["error"]
    assert error["code"] == -32029 and "too many open sessions" in error["message"]
    assert refused.json()["id"] == 1

    legacy = httpx.get(f"{gateway.base_url}/sse", headers={"authorization": f"Bearer {token}"}, timeout=30)
    assert legacy.status_code == 429 and legacy.headers["retry-after"]

    assert _delete(gateway, token, sessions[0]) == 204
    assert _initialize(gateway, token).status_code == 200
    assert _initialize(gateway, token).status_code == 429


def test_one_users_limit_does_not_touch_another_user(gateway: GatewayProcess, admin: httpx.Client) -> None:
    admin_token = gateway.mint_token()
    # The administrator holds all they may (some may be left from other tests).
    assert _initialize_until_refused(gateway, admin_token) == 429
    people.create_user(admin, "other@example.com")
    other = people.login(admin, "other@example.com")
    assert [_initialize(gateway, other).status_code for _ in range(LIMIT)] == [200] * LIMIT
    assert _initialize(gateway, other).status_code == 429


def test_an_initialize_with_more_client_state_than_kept_is_refused(
    gateway: GatewayProcess, admin: httpx.Client
) -> None:
    people.create_user(admin, "big@example.com")
    token = people.login(admin, "big@example.com")
    answer = _initialize(gateway, token, {"name": "t", "version": "x" * STATE_BYTES})
    assert answer.status_code == 200, answer.text
    assert "mcp-session-id" not in answer.headers
    error = answer.json()["error"]
    assert error["code"] == -32602 and f"at most {STATE_BYTES}" in error["message"]
    assert _initialize(gateway, token, {"name": "t", "version": "1"}).status_code == 200
