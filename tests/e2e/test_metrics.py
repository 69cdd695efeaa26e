"""Every tools/call is recorded off the request path and queryable per tool."""

from __future__ import annotations

import httpx
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import UpstreamProcess


def test_calls_show_up_with_counts_errors_and_percentiles(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str, fixture_upstream: UpstreamProcess
) -> None:
    register(admin, "metered", fixture_upstream.url)
    server = create_server(admin, "metered", ["metered__echo", "metered__fail"])
    client = McpHttp(f"{gateway.base_url}/servers/{server}/mcp", admin_token)
    client.initialize()
    for i in range(20):
        assert "result" in client.call_tool("metered__echo", {"text": str(i)})
    for _ in range(3):
        assert client.call_tool("metered__fail", {"message": "no"})["result"]["isError"] is True

    def rows() -> dict[str, dict] | None:
        tools = {
            row["tool"]: row
            for row in admin.get("/metrics/tools", params={"server_id": server}).json()["tools"]
        }
        if (
            tools.get("metered__echo", {}).get("calls") == 20
            and tools.get("metered__fail", {}).get("calls") == 3
        ):
            return tools
        return None

    tools = eventually(rows, what="all 23 calls recorded")
    echo, fail = tools["metered__echo"], tools["metered__fail"]
    assert echo["errors"] == 0
    assert fail["errors"] == 3
    assert 0 < echo["p50_ms"] <= echo["p95_ms"] <= echo["p99_ms"]
