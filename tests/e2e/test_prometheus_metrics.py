"""Prometheus metrics of a running gateway, scraped as a Prometheus on another host
would: `/internal/metrics` answers a peer that is not loopback (relayed or not) while
`/internal/counters` still refuses it, and after REST and MCP traffic the series show
route templates, gRPC calls, cache lookups, a rate-limit refusal and the leases held."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.upstream_process import UpstreamProcess

# Generous for the admin token, which makes the REST and MCP traffic; another token spends its own.
PER_TOKEN = 15
TOOLS_LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def outward_address() -> str:
    """This host's address on its network (a UDP connect sends nothing; it picks the route)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        address = probe.getsockname()[0]
    assert not ipaddress.ip_address(address).is_loopback, "this host has no address but loopback"
    return address


@pytest.fixture(scope="module")
def open_gateway() -> Iterator[GatewayProcess]:
    env = {"SWITCHBOARD_HTTP_HOST": "0.0.0.0", "SWITCHBOARD_RATE_LIMIT_PER_TOKEN": f"{PER_TOKEN}/24h"}
    with start_gateway(env) as process:
        yield process


@pytest.fixture(scope="module")
def remote_url(open_gateway: GatewayProcess) -> str:
    port = open_gateway.base_url.rsplit(":", 1)[1]
    return f"http://{outward_address()}:{port}"


def scrape(url: str) -> tuple[Samples, str]:
    response = httpx.get(f"{url}/internal/metrics", timeout=30)
    assert response.status_code == 200, response.text
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    return found, response.text


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s series whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def test_a_peer_on_another_address_is_answered_metrics_and_refused_counters(remote_url: str) -> None:
    plain = httpx.get(f"{remote_url}/internal/metrics", timeout=30)
    relayed = httpx.get(
        f"{remote_url}/internal/metrics", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=30
    )
    assert plain.status_code == relayed.status_code == 200
    assert "switchboard_build_info" in plain.text
    assert httpx.get(f"{remote_url}/internal/counters", timeout=30).status_code == 403


def test_traffic_shows_in_route_templates_grpc_calls_caches_refusals_and_leases(
    open_gateway: GatewayProcess, remote_url: str, fixture_upstream: UpstreamProcess
) -> None:
    before, _ = scrape(remote_url)
    token = open_gateway.mint_token()
    with httpx.Client(
        base_url=open_gateway.base_url, headers={"authorization": f"Bearer {token}"}, timeout=30
    ) as admin:
        register(admin, "alpha", fixture_upstream.url)
        server_id = create_server(admin, "alpha-only", ["alpha__echo"])
        assert admin.get("/gateways").status_code == 200
        mcp = McpHttp(f"{open_gateway.base_url}/servers/{server_id}/mcp", token)
        mcp.initialize()
        for text in ("one", "two", "three"):
            assert mcp.call_tool("alpha__echo", {"text": text})["result"]["isError"] is False

    spender = open_gateway.mint_token()
    statuses = [
        httpx.post(
            f"{open_gateway.base_url}/rpc",
            json=TOOLS_LIST,
            headers={"authorization": f"Bearer {spender}"},
            timeout=30,
        ).status_code
        for _ in range(PER_TOKEN + 1)
    ]
    assert statuses[-1] == 429 and statuses[:-1] == [200] * PER_TOKEN

    after, text = scrape(remote_url)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    http = "switchboard_http_request_duration_seconds_count"
    assert moved(http, route="/servers/{server_id}/mcp", method="POST", code="200") >= 4
    assert moved(http, route="/gateways", method="POST", code="201") == 1
    assert moved(http, route="/rpc", method="POST", code="429") == 1
    # Routes are templates: a raw server id is a label value only where it names the
    # virtual server of an MCP call (`server`, capped).
    assert f'route="/servers/{server_id}' not in text, "a raw path became a route label"
    assert all(
        line.startswith("switchboard_mcp_call_duration_seconds")
        for line in text.splitlines()
        if server_id in line
    ), "a raw server id became a label value outside switchboard_mcp_call_duration_seconds"

    grpc_served = "switchboard_grpc_server_handling_seconds_count"
    grpc_made = "switchboard_grpc_client_handling_seconds_count"
    assert (
        total(after, grpc_served, grpc_service="switchboard.registry.v1.RegistryService", grpc_code="OK") > 0
    )
    assert total(after, grpc_made, grpc_service="switchboard.registry.v1.RegistryService", grpc_code="OK") > 0
    assert total(after, grpc_served, grpc_service="switchboard.auth.v1.AuthService") > 0

    assert moved("switchboard_cache_requests_total", cache="principals", result="hit") > 0
    assert moved("switchboard_cache_requests_total", cache="principals", result="miss") > 0
    assert moved("switchboard_rate_limit_refusals_total", limit="token") == 1

    for lease in ("upstreams", "rollups", "retention"):
        assert total(after, "switchboard_leader_held", service="embedded", lease=lease) == 1, lease
    assert total(after, "switchboard_ready") == 1
    assert total(after, "switchboard_db_pool_connections", service="registry") >= 1
