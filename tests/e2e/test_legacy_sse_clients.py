"""The legacy HTTP+SSE transport (2024-11-05) through the gateway, both directions."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.sdk_clients import sdk1_list_and_call
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


@pytest.fixture(scope="module")
def server_id(admin: httpx.Client, fixture_upstream: UpstreamProcess) -> str:
    register(admin, "old", fixture_upstream.url)
    return create_server(admin, "old-clients", ["old__echo", "old__add"])


@pytest.fixture(scope="module")
def legacy_upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="legacy", sse=True) as upstream:
        yield upstream


def _events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    event, data = "message", []
    for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield event, "\n".join(data)
            event, data = "message", []


@pytest.mark.parametrize("endpoint", ["server", "all"])
def test_sdk1_sse_client_lists_and_calls(
    gateway: GatewayProcess, server_id: str, admin_token: str, endpoint: str
) -> None:
    url = f"{gateway.base_url}/servers/{server_id}/sse" if endpoint == "server" else f"{gateway.base_url}/sse"
    outcome = sdk1_list_and_call(url, admin_token, "old__echo", {"text": "over sse"}, transport="sse")
    assert "old__echo" in outcome["tools"]
    if endpoint == "server":
        assert set(outcome["tools"]) == {"old__echo", "old__add"}
    assert outcome["result"]["content"][0]["text"] == "over sse"


def test_a_2024_11_05_client_gets_2024_11_05_and_answers_on_the_stream(
    gateway: GatewayProcess, server_id: str, admin_token: str
) -> None:
    auth = {"authorization": f"Bearer {admin_token}"}
    url = f"{gateway.base_url}/servers/{server_id}/sse"
    with httpx.Client(base_url=gateway.base_url, headers=auth, timeout=30) as http:
        with http.stream("GET", url) as stream:
            events = _events(stream.iter_lines())
            kind, endpoint = next(events)
            assert kind == "endpoint"
            assert endpoint.startswith(f"/servers/{server_id}/message?session_id=")
            initialize = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t"}},
            }
            assert http.post(endpoint, json=initialize).status_code == 202
            kind, data = next(events)
            assert kind == "message"
            assert json.loads(data)["result"]["protocolVersion"] == "2024-11-05"
            call = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "old__add", "arguments": {"a": 2, "b": 3}},
            }
            assert http.post(endpoint, json=call).status_code == 202
            kind, data = next(events)
            assert json.loads(data) == {
                "jsonrpc": "2.0",
                "id": 2,
                "result": json.loads(data)["result"],
            }
            assert json.loads(data)["result"]["content"][0]["text"] == "5"
            # Another server's path does not know the session.
            other = endpoint.replace(f"/servers/{server_id}/message", "/message")
            assert http.post(other, json=call).status_code == 404


def test_the_legacy_endpoints_need_a_token_and_a_known_session(
    gateway: GatewayProcess, admin_token: str
) -> None:
    assert httpx.get(f"{gateway.base_url}/sse", timeout=10).status_code == 401
    unauthorized = httpx.post(f"{gateway.base_url}/message?session_id=x", json={}, timeout=10)
    assert unauthorized.status_code == 401
    assert unauthorized.headers["www-authenticate"].startswith("Bearer")
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    unknown = httpx.post(
        f"{gateway.base_url}/message?session_id=nope",
        json=ping,
        headers={"authorization": f"Bearer {admin_token}"},
        timeout=10,
    )
    assert unknown.status_code == 404


def test_a_streamable_http_client_calls_a_legacy_sse_upstream(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str, legacy_upstream: UpstreamProcess
) -> None:
    register(admin, "elder", legacy_upstream.url)
    client = McpHttp(f"{gateway.base_url}/mcp", admin_token)
    client.initialize()
    answer = client.call_tool("elder__echo", {"text": "across eras"})
    assert answer["result"]["content"][0]["text"] == "across eras"
