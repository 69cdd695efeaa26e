"""An upstream that announces a change of its tools: the registry refreshes it on its own,
and clients of the gateway see the new tool and hear that the list changed."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from switchboard_mcp import sse
from switchboard_testing.admin_api import register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

LIST_CHANGED = "notifications/tools/list_changed"


@pytest.fixture(scope="module")
def growing_upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="grower") as upstream:
        yield upstream


@pytest.fixture(scope="module")
def endpoint(gateway: GatewayProcess, admin: httpx.Client, growing_upstream: UpstreamProcess) -> str:
    """A server following the whole gateway `grower` (bare names), so it gains what the upstream gains."""
    register(admin, "grower", growing_upstream.url)
    response = admin.post("/servers", json={"name": "growing", "gateways": ["grower"], "bare_names": True})
    assert response.status_code == 201, response.text
    return f"{gateway.base_url}/servers/{response.json()['id']}/mcp"


def _tool_names(client: McpHttp) -> set[str]:
    return {tool["name"] for tool in client.request("tools/list")["result"]["tools"]}


def _hears(stream: httpx.Response, method: str) -> bool:
    """Read the GET stream until `method` arrives (True) or the stream ends (False)."""
    decoder = sse.Decoder()
    for chunk in stream.iter_bytes():
        if method in {orjson.loads(e.data).get("method") for e in decoder.feed(chunk) if e.data}:
            return True
    return False


def test_a_tool_an_upstream_announces_reaches_clients_without_a_refresh(
    endpoint: str, admin_token: str
) -> None:
    caller, watcher = McpHttp(endpoint, admin_token), McpHttp(endpoint, admin_token)
    caller.initialize()
    watcher.initialize()
    assert "sprout" not in _tool_names(caller)

    with httpx.stream("GET", endpoint, headers=watcher.headers(), timeout=20) as stream:
        assert stream.status_code == 200
        grown = caller.call_tool("grow", {"name": "sprout"})
        assert grown["result"]["isError"] is False, grown

        eventually(lambda: "sprout" in _tool_names(caller), what="the grown tool in tools/list")
        assert _hears(stream, LIST_CHANGED), "the GET stream ended without a list_changed notification"
    assert "sprout" in _tool_names(watcher)
