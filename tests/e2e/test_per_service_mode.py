"""`switchboard serve NAME`: each service in its own process, finding the others by address."""

from __future__ import annotations

from pathlib import Path

import httpx
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import start_services
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.people import create_user, login
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import UpstreamProcess


def test_four_processes_serve_a_tools_call_end_to_end(
    tmp_path: Path, fixture_upstream: UpstreamProcess
) -> None:
    with start_services(tmp_path / "data") as services:
        token = services["auth"].mint_token()
        auth = {"authorization": f"Bearer {token}"}
        # Each HTTP face serves only its own service's routes.
        assert httpx.get(f"{services['auth'].base_url}/gateways", headers=auth).status_code == 404
        with httpx.Client(base_url=services["registry"].base_url, headers=auth) as registry:
            register(registry, "split", fixture_upstream.url, visibility="public")
            server = create_server(registry, "split", ["split__add"], visibility="public")

        client = McpHttp(f"{services['mcp-proxy'].base_url}/servers/{server}/mcp", token)
        client.initialize()
        assert client.call_tool("split__add", {"a": 1, "b": 2})["result"]["content"][0]["text"] == "3"

        def recorded() -> bool:
            url = f"{services['metrics'].base_url}/metrics/tools"
            rows = httpx.get(url, headers=auth, params={"server_id": server}).json()["tools"]
            return [(r["tool"], r["calls"]) for r in rows] == [("split__add", 1)]

        eventually(recorded, what="the call recorded by the metrics process")

        # What someone else sees of it, the metrics process asks the registry's.
        with httpx.Client(base_url=services["auth"].base_url, headers=auth) as people:
            create_user(people, "split-user@example.com")
            other = {"authorization": f"Bearer {login(people, 'split-user@example.com')}"}
        with httpx.Client(base_url=services["metrics"].base_url, headers=other) as metrics:
            rows = metrics.get("/metrics/tools", params={"server_id": server}).json()["tools"]
            assert [(r["tool"], r["calls"]) for r in rows] == [("split__add", 1)]
            assert metrics.get("/metrics/tools", params={"server_id": "no-such-server"}).status_code == 404
