"""An untraced gateway's tools/call runs no tracing code: nothing on the MCP data path
enters OpenTelemetry (what a batch of metrics does, once per flush, is not per call)."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.otel_census import census_env, read_census
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import start_upstream

CALLS = 50
# Code a tools/call runs through: none of it may call into OpenTelemetry when untraced.
DATA_PATH = ("switchboard_proxy", "switchboard_mcp", "switchboard_core/tracing", "switchboard_core/http")


def test_an_untraced_tools_call_enters_no_tracing_code(tmp_path: Path) -> None:
    census = tmp_path / "census.json"
    with start_upstream(name="quiet") as upstream, start_gateway(census_env(census)) as gateway:
        token = gateway.mint_token()
        with httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {token}"}) as admin:
            register(admin, "quiet", upstream.url)
            server = create_server(admin, "quiet", ["quiet__echo"])
        client = McpHttp(f"{gateway.base_url}/servers/{server}/mcp", token)
        client.initialize()
        for _ in range(5):  # caches filled, upstream session open
            client.call_tool("quiet__echo", {"text": "warm"})

        gateway.process.send_signal(signal.SIGUSR1)
        for i in range(CALLS):
            result = client.call_tool("quiet__echo", {"text": f"call {i}"})
            assert f"call {i}" in str(result)
        gateway.process.send_signal(signal.SIGUSR2)
        eventually(census.exists, timeout_s=30, what="the census written")

    callers = read_census(census)
    on_the_data_path = {where: n for where, n in callers.items() if any(part in where for part in DATA_PATH)}
    assert on_the_data_path == {}, f"tracing code entered per call: {on_the_data_path}"
