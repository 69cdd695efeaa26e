"""Who may see and do what, through the MCP endpoints, as real users of real teams, and
what that costs on the hot path: a warm tools/call asks the auth service nothing."""

from __future__ import annotations

import httpx
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.people import add_member, create_team, create_user
from switchboard_testing.upstream_process import UpstreamProcess

AUTHENTICATE = "grpc.calls./switchboard.auth.v1.AuthService/Authenticate"
GET_CATALOG = "grpc.calls./switchboard.registry.v1.RegistryService/GetCatalog"
HOT_CALLS = 20


@pytest.fixture(scope="module")
def developer(admin: httpx.Client, gateway: GatewayProcess) -> str:
    """A token of a developer of the team the hot server belongs to."""
    email = "hot-developer@example.com"
    create_user(admin, email)
    add_member(admin, create_team(admin, "hot-team"), email, "developer")
    return gateway.mint_token(email)


def counters(gateway: GatewayProcess) -> dict[str, int]:
    response = httpx.get(f"{gateway.base_url}/internal/counters")
    response.raise_for_status()
    return response.json()["counters"]


def test_a_warm_tools_call_of_a_team_member_asks_the_auth_service_nothing(
    admin: httpx.Client, gateway: GatewayProcess, fixture_upstream: UpstreamProcess, developer: str
) -> None:
    register(admin, "hot", fixture_upstream.url)
    server_id = create_server(admin, "hot-server", ["hot__echo"])
    client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", developer)
    client.initialize()
    for _ in range(3):  # warm: the principal, the catalog and the caller's view are cached
        assert client.call_tool("hot__echo", {"text": "warm"})["result"]["isError"] is False

    before = counters(gateway)
    for n in range(HOT_CALLS):
        reply = client.call_tool("hot__echo", {"text": f"hot {n}"})
        assert reply["result"]["content"][0]["text"] == f"hot {n}"
    after = counters(gateway)
    spent = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}

    assert spent.get(AUTHENTICATE, 0) == 0, spent
    assert spent.get(GET_CATALOG, 0) == 0, spent
    assert spent.get("cache.principals.misses", 0) == spent.get("cache.catalog.misses", 0) == 0, spent
    assert spent.get("cache.principals.hits", 0) == HOT_CALLS, spent
