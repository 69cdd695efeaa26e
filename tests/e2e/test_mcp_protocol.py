"""The proxy's Streamable HTTP face: the session life cycle and each error the issue names."""

from __future__ import annotations

import httpx
import orjson
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


@pytest.fixture(scope="module")
def server_id(admin: httpx.Client, fixture_upstream: UpstreamProcess) -> str:
    register(admin, "alpha", fixture_upstream.url)
    return create_server(admin, "alpha-only", ["alpha__echo", "alpha__add", "alpha__fail"])


@pytest.fixture
def mcp(gateway: GatewayProcess, admin_token: str, server_id: str):
    client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token)
    client.initialize()
    return client


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
def test_initialize_negotiates_the_clients_version_and_opens_a_session(
    gateway: GatewayProcess, admin_token: str, server_id: str, version: str
) -> None:
    client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token, protocol_version=version)
    result = client.initialize()
    assert result["protocolVersion"] == version
    assert client.session_id
    assert client.request("ping") == {"jsonrpc": "2.0", "id": 2, "result": {}}


def test_tools_list_shows_only_the_servers_tools(mcp: McpHttp) -> None:
    tools = mcp.request("tools/list")["result"]["tools"]
    assert sorted(t["name"] for t in tools) == ["alpha__add", "alpha__echo", "alpha__fail"]
    echo = next(t for t in tools if t["name"] == "alpha__echo")
    assert echo["inputSchema"]["properties"]["text"]["type"] == "string"


def test_tools_call_is_forwarded_to_the_upstream(mcp: McpHttp) -> None:
    result = mcp.call_tool("alpha__add", {"a": 2, "b": 40})["result"]
    assert result["isError"] is False
    assert result["content"][0]["text"] == "42"


def test_tool_errors_come_back_as_is_error_results(mcp: McpHttp) -> None:
    result = mcp.call_tool("alpha__fail", {"message": "boom"})["result"]
    assert result["isError"] is True
    assert "boom" in result["content"][0]["text"]


def test_notification_is_accepted_with_202(mcp: McpHttp) -> None:
    response = mcp.post({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}})
    assert response.status_code == 202
    assert response.content == b""


def test_malformed_json_is_400_with_parse_error(mcp: McpHttp) -> None:
    response = mcp.post_raw(b'{"jsonrpc": "2.0", "id": 1, "method": ')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


def test_unknown_method_is_method_not_found(mcp: McpHttp) -> None:
    reply = mcp.request("no/such/method")
    assert reply["error"]["code"] == -32601


def test_unknown_tool_error_names_the_tool(mcp: McpHttp) -> None:
    reply = mcp.call_tool("alpha__nope", {})
    assert reply["error"]["code"] == -32602
    assert "alpha__nope" in reply["error"]["message"]


def test_request_without_session_is_400(gateway: GatewayProcess, admin_token: str, server_id: str) -> None:
    client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token)
    assert client.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status_code == 400


def test_unknown_session_is_404(gateway: GatewayProcess, admin_token: str, server_id: str) -> None:
    client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token)
    client.session_id = "not-a-session"
    assert client.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).status_code == 404


def test_deleted_session_is_gone(mcp: McpHttp) -> None:
    assert httpx.delete(mcp.url, headers=mcp.headers()).status_code == 204
    assert mcp.post({"jsonrpc": "2.0", "id": 5, "method": "ping"}).status_code == 404


def test_unknown_server_is_404_at_initialize(gateway: GatewayProcess, admin_token: str) -> None:
    client = McpHttp(f"{gateway.base_url}/servers/does-not-exist/mcp", admin_token)
    response = client.post(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"},
            },
        }
    )
    assert response.status_code == 404


def test_a_down_upstream_fails_only_its_own_tools(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str, fixture_upstream: UpstreamProcess
) -> None:
    with start_upstream(name="doomed") as doomed:
        register(admin, "doomed", doomed.url)
        server = create_server(admin, "mixed", ["alpha__echo", "doomed__echo"])
        client = McpHttp(f"{gateway.base_url}/servers/{server}/mcp", admin_token)
        client.initialize()
        assert (
            client.call_tool("doomed__echo", {"text": "before"})["result"]["content"][0]["text"] == "before"
        )
        doomed.kill()
        failed = client.call_tool("doomed__echo", {"text": "after"})
        assert "doomed__echo" in failed["error"]["message"]
        assert "unavailable" in failed["error"]["message"]
        assert (
            client.call_tool("alpha__echo", {"text": "still here"})["result"]["content"][0]["text"]
            == "still here"
        )
        assert {t["name"] for t in client.request("tools/list")["result"]["tools"]} == {
            "alpha__echo",
            "doomed__echo",
        }


def test_all_tools_endpoint_federates_every_upstream(
    gateway: GatewayProcess, admin_token: str, server_id: str
) -> None:
    client = McpHttp(f"{gateway.base_url}/mcp", admin_token)
    client.initialize()
    names = {t["name"] for t in client.request("tools/list")["result"]["tools"]}
    assert {"alpha__echo", "alpha__add", "alpha__headers"} <= names
    assert client.call_tool("alpha__echo", {"text": "via /mcp"})["result"]["content"][0]["text"] == "via /mcp"


def test_client_token_never_reaches_the_upstream(
    gateway: GatewayProcess, admin_token: str, server_id: str
) -> None:
    client = McpHttp(f"{gateway.base_url}/mcp", admin_token)
    client.initialize()
    result = client.call_tool("alpha__headers", {})["result"]
    seen = result.get("structuredContent") or {}
    text = result["content"][0]["text"]
    assert admin_token not in text
    assert "authorization" not in (seen.get("result", seen) if isinstance(seen, dict) else {})


def test_a_2025_03_26_session_may_batch(gateway: GatewayProcess, admin_token: str, server_id: str) -> None:
    client = McpHttp(
        f"{gateway.base_url}/servers/{server_id}/mcp", admin_token, protocol_version="2025-03-26"
    )
    assert client.initialize()["protocolVersion"] == "2025-03-26"
    response = client.post_raw(
        b'[{"jsonrpc":"2.0","id":"a","method":"ping"},'
        b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"zz"}},'
        b'{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"alpha__add","arguments":{"a":1,"b":1}}}]'
    )
    assert response.status_code == 200
    answers = {a["id"]: a for a in response.json()}
    assert answers["a"]["result"] == {}
    assert answers["b"]["result"]["content"][0]["text"] == "2"


def test_a_batch_holds_at_most_100_messages_by_default(
    gateway: GatewayProcess, admin_token: str, server_id: str
) -> None:
    client = McpHttp(
        f"{gateway.base_url}/servers/{server_id}/mcp", admin_token, protocol_version="2025-03-26"
    )
    client.initialize()
    pings = [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(101)]
    assert client.post_raw(orjson.dumps(pings[:100])).status_code == 200
    response = client.post_raw(orjson.dumps(pings))
    assert response.status_code == 400
    assert response.json()["error"] == {"code": -32600, "message": "a batch holds 1 to 100 messages"}


def test_later_versions_may_not_batch(mcp: McpHttp) -> None:
    response = mcp.post_raw(b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600
