"""The SSRF guard at the data path: a proxy never connects to an upstream its allow-list
leaves out, even one the registry accepted (a name since pointed elsewhere, a list tightened)."""

from __future__ import annotations

from pathlib import Path

import httpx
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import start_services
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.upstream_process import UpstreamProcess


def test_a_call_to_an_upstream_the_proxy_may_not_reach_is_a_json_rpc_error(
    tmp_path: Path, fixture_upstream: UpstreamProcess
) -> None:
    # The registry may reach loopback (the harness's allow-list); the proxy nothing private.
    with start_services(tmp_path / "data", env={"mcp-proxy": {"SWITCHBOARD_OUTBOUND_ALLOW": ""}}) as services:
        token = services["auth"].mint_token()
        with httpx.Client(
            base_url=services["registry"].base_url, headers={"authorization": f"Bearer {token}"}
        ) as registry:
            register(registry, "walled", fixture_upstream.url)
            server = create_server(registry, "walled", ["walled__add"])

        client = McpHttp(f"{services['mcp-proxy'].base_url}/servers/{server}/mcp", token)
        client.initialize()
        answer = client.call_tool("walled__add", {"a": 1, "b": 2})

    assert "result" not in answer
    assert answer["error"]["code"] == -32010
    assert answer["error"]["message"] == (
        "outbound connection refused: 127.0.0.1 is a loopback address; allow it with SWITCHBOARD_OUTBOUND_ALLOW"
    )
