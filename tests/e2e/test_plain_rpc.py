"""Plain JSON-RPC at /rpc and /servers/{id}/rpc: one POST, one answer, no session."""

from __future__ import annotations

import httpx
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.upstream_process import UpstreamProcess


@pytest.fixture(scope="module")
def server_id(admin: httpx.Client, fixture_upstream: UpstreamProcess) -> str:
    register(admin, "plain", fixture_upstream.url)
    return create_server(admin, "plain", ["plain__add", "plain__sample"], bare_names=True)


def _post(gateway: GatewayProcess, path: str, token: str | None, body) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.post(gateway.base_url + path, json=body, headers=headers, timeout=30)


def test_a_call_needs_no_session(gateway: GatewayProcess, admin_token: str, server_id: str) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 3, "b": 4}},
    }
    answer = _post(gateway, f"/servers/{server_id}/rpc", admin_token, call)
    assert answer.status_code == 200
    assert answer.json()["result"]["content"][0]["text"] == "7"


def test_the_all_tools_rpc_uses_qualified_names(
    gateway: GatewayProcess, admin_token: str, server_id: str
) -> None:
    listing = _post(gateway, "/rpc", admin_token, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).json()
    assert "plain__add" in {t["name"] for t in listing["result"]["tools"]}


def test_a_batch_is_answered_as_a_batch(gateway: GatewayProcess, admin_token: str, server_id: str) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "x", "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "y", "method": "no/such"},
    ]
    answers = {a["id"]: a for a in _post(gateway, f"/servers/{server_id}/rpc", admin_token, batch).json()}
    assert answers["x"]["result"] == {}
    assert answers["y"]["error"]["code"] == -32601


def test_an_upstream_request_to_a_sessionless_caller_is_refused_not_left_hanging(
    gateway: GatewayProcess, admin_token: str, server_id: str
) -> None:
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "sample", "arguments": {"prompt": "?"}},
    }
    answer = _post(gateway, f"/servers/{server_id}/rpc", admin_token, call)
    assert answer.status_code == 200
    # The gateway refuses the upstream's sampling request at once; the upstream then fails
    # the call (the SDK turns the refusal into a JSON-RPC error naming it).
    reply = answer.json()
    assert "sampling/createMessage" in str(reply.get("error") or reply["result"])


def test_rpc_needs_a_token(gateway: GatewayProcess) -> None:
    answer = _post(gateway, "/rpc", None, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_malformed_json_is_a_parse_error(gateway: GatewayProcess, admin_token: str) -> None:
    answer = httpx.post(
        f"{gateway.base_url}/rpc",
        content=b"{nope",
        headers={"authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == -32700
