"""One failing upstream never breaks a federated server: its tools leave and come back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import start_upstream

HEALTH = {
    "SWITCHBOARD_HEALTH_INTERVAL_S": "0.3",
    "SWITCHBOARD_HEALTH_TIMEOUT_S": "0.5",
    "SWITCHBOARD_HEALTH_FAILURES": "2",
}
PROMPT_S = 1.0


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    with start_gateway(HEALTH) as process:
        yield process


def _tool_names(client: McpHttp) -> set[str]:
    reply = client.request("tools/list")
    return {tool["name"] for tool in reply["result"]["tools"]}


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_a_dead_upstream_drops_out_of_a_federated_server_and_comes_back(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str
) -> None:
    with contextlib.ExitStack() as stack:
        steady = stack.enter_context(start_upstream(name="steady"))
        flaky = stack.enter_context(start_upstream(name="flaky"))
        register(admin, "steady", steady.url)
        register(admin, "flaky", flaky.url)
        server_id = create_server(
            admin, "federated", ["steady__echo", "steady__add", "flaky__echo", "flaky__add"]
        )
        client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token)
        client.initialize()
        everything = {"steady__echo", "steady__add", "flaky__echo", "flaky__add"}
        assert _tool_names(client) == everything

        flaky.kill()

        eventually(
            lambda: _tool_names(client) == {"steady__echo", "steady__add"},
            timeout_s=10,
            what="the dead upstream's tools leave tools/list",
        )
        fresh = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token)
        _, initialize_took = _timed(fresh.initialize)
        names, list_took = _timed(lambda: _tool_names(fresh))
        assert names == {"steady__echo", "steady__add"}
        assert initialize_took < PROMPT_S and list_took < PROMPT_S
        dead_call = client.call_tool("flaky__echo", {"text": "hi"})
        assert dead_call["error"]["code"] == -32011
        assert "flaky__echo" in dead_call["error"]["message"]
        assert "upstream 'flaky' is down" in dead_call["error"]["message"]
        assert client.call_tool("nosuch__echo", {})["error"]["code"] == -32602
        assert client.call_tool("steady__echo", {"text": "hi"})["result"]["content"][0]["text"] == "hi"
        everywhere = McpHttp(f"{gateway.base_url}/mcp", admin_token)
        everywhere.initialize()
        assert not {name for name in _tool_names(everywhere) if name.startswith("flaky__")}

        stack.enter_context(start_upstream(name="flaky", port=flaky.port))

        eventually(
            lambda: _tool_names(client) == everything,
            timeout_s=15,
            what="the restarted upstream's tools come back",
        )
        back = client.call_tool("flaky__echo", {"text": "again"})
        assert back["result"]["content"][0]["text"] == "again"
        gateways = {g["name"]: g for g in admin.get("/gateways").json()["items"]}
        assert gateways["flaky"]["status"] == "available"
