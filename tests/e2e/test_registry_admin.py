"""Registering upstreams and composing servers, from the CLI and the REST API."""

from __future__ import annotations

import json

import httpx
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.ports import free_port
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


def test_cli_registers_an_upstream_and_composes_a_server(gateway: GatewayProcess, admin_token: str) -> None:
    with start_upstream(name="cli") as upstream:
        added = gateway.cli(
            "gateways", "add", "cli-upstream", upstream.url, "--visibility", "public", "--token", admin_token
        )
        gateway_json = json.loads(added.stdout)
        assert (gateway_json["name"], gateway_json["visibility"]) == ("cli-upstream", "public")
        listed = json.loads(gateway.cli("tools", "list", "--token", admin_token).stdout)
        names = {t["name"] for t in (listed["items"] if isinstance(listed, dict) else listed)}
        assert {"cli-upstream__echo", "cli-upstream__add"} <= names

        created = gateway.cli(
            "servers",
            "create",
            "cli-server",
            "--tool",
            "cli-upstream__echo",
            "--tool",
            "cli-upstream__add",
            "--visibility",
            "private",
            "--token",
            admin_token,
        )
        server = json.loads(created.stdout)
        assert server["visibility"] == "private"
        servers = json.loads(gateway.cli("servers", "list", "--token", admin_token).stdout)
        ids = {s["id"] for s in (servers["items"] if isinstance(servers, dict) else servers)}
        assert server["id"] in ids


def test_unreachable_upstream_is_refused_and_nothing_is_stored(
    gateway: GatewayProcess, admin: httpx.Client
) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    response = admin.post("/gateways", json={"name": "nowhere", "url": url})
    assert response.status_code == 400
    assert "unreachable" in response.json()["detail"]
    gateways = admin.get("/gateways").json()
    items = gateways["items"] if isinstance(gateways, dict) else gateways
    assert all(g["name"] != "nowhere" for g in items)


def test_non_mcp_url_is_refused_with_a_reason(gateway: GatewayProcess, admin: httpx.Client) -> None:
    # The gateway's own health endpoint is HTTP but not MCP.
    response = admin.post("/gateways", json={"name": "not-mcp", "url": f"{gateway.base_url}/healthz"})
    assert response.status_code == 400
    assert "MCP" in response.json()["detail"] or "mcp" in response.json()["detail"]


def test_cli_reports_a_refusal_clearly(
    gateway: GatewayProcess, admin_token: str, fixture_upstream: UpstreamProcess
) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    result = gateway.cli("gateways", "add", "gone", url, "--token", admin_token, check=False)
    assert result.returncode == 1
    assert "unreachable" in result.stderr
