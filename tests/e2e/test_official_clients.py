"""The official MCP Python SDK, 2.x and 1.x, through the gateway end to end."""

from __future__ import annotations

import httpx
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.sdk_clients import sdk1_list_and_call, sdk2_list_and_call
from switchboard_testing.upstream_process import UpstreamProcess


@pytest.fixture(scope="module")
def endpoints(
    gateway: GatewayProcess, admin: httpx.Client, fixture_upstream: UpstreamProcess
) -> dict[str, str]:
    register(admin, "sdk", fixture_upstream.url)
    server = create_server(admin, "sdk-server", ["sdk__echo", "sdk__add"])
    return {"server": f"{gateway.base_url}/servers/{server}/mcp", "all": f"{gateway.base_url}/mcp"}


@pytest.mark.parametrize("endpoint", ["server", "all"])
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk2_client_lists_and_calls(
    endpoints: dict[str, str], admin_token: str, endpoint: str, mode: str
) -> None:
    outcome = await sdk2_list_and_call(
        endpoints[endpoint], admin_token, "sdk__add", {"a": 20, "b": 22}, mode=mode
    )
    assert {"sdk__echo", "sdk__add"} <= set(outcome["tools"])
    if endpoint == "server":
        assert set(outcome["tools"]) == {"sdk__echo", "sdk__add"}
    # auto probes server/discover and speaks the stateless revision; legacy initializes.
    assert outcome["protocol_version"] == ("2026-07-28" if mode == "auto" else "2025-11-25")
    assert outcome["result"]["content"][0]["text"] == "42"


@pytest.mark.parametrize("endpoint", ["server", "all"])
def test_sdk1_client_lists_and_calls(endpoints: dict[str, str], admin_token: str, endpoint: str) -> None:
    outcome = sdk1_list_and_call(endpoints[endpoint], admin_token, "sdk__echo", {"text": "from 1.x"})
    assert "sdk__echo" in outcome["tools"]
    assert outcome["protocol_version"] in ("2025-06-18", "2025-11-25")
    assert outcome["result"]["content"][0]["text"] == "from 1.x"
