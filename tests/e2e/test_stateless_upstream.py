"""An upstream serving only the stateless revision 2026-07-28, registered with the
gateway and used by clients of other eras: the gateway translates."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest
from switchboard_mcp import sse
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.sdk_clients import sdk1_list_and_call, sdk2_list_and_call
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

TOOLS = ["novel__echo", "novel__add", "novel__fail", "novel__progress", "novel__tool_4"]


@pytest.fixture(scope="module")
def modern_only() -> Iterator[UpstreamProcess]:
    # Pages of three: registering it means following its cursors too.
    with start_upstream(name="novel", modern_only=True, page_size=3, extra_tools=5) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def registered(admin: httpx.Client, modern_only: UpstreamProcess) -> dict:
    return register(admin, "novel", modern_only.url)


@pytest.fixture(scope="module")
def server_url(gateway: GatewayProcess, admin: httpx.Client, registered: dict) -> str:
    server = create_server(admin, "novel-server", TOOLS)
    return f"{gateway.base_url}/servers/{server}/mcp"


@pytest.fixture
def session_client(server_url: str, admin_token: str) -> McpHttp:
    client = McpHttp(server_url, admin_token)
    client.initialize()
    return client


def test_registering_reads_who_it_is_and_every_page_of_its_tools(
    admin: httpx.Client, registered: dict
) -> None:
    assert registered["server_info"]["name"] == "novel"
    assert registered["tool_count"] > 3 * 3  # more than three pages of three
    assert registered["capabilities"]["resources"]["subscribe"] is True  # over its listen stream
    assert "logging" not in registered["capabilities"]
    page = admin.get("/tools", params={"gateway_id": registered["id"], "limit": 100}).json()
    assert page["total"] == registered["tool_count"]
    assert {"novel__echo", "novel__tool_0", "novel__tool_4"} <= {tool["name"] for tool in page["items"]}


def test_a_session_era_client_lists_its_tools(session_client: McpHttp) -> None:
    listed = session_client.request("tools/list")["result"]
    assert {tool["name"] for tool in listed["tools"]} == set(TOOLS)
    assert "resultType" not in listed


def test_a_session_era_client_calls_its_tools(session_client: McpHttp) -> None:
    answer = session_client.call_tool("novel__add", {"a": 40, "b": 2})
    assert answer["result"]["content"] == [{"type": "text", "text": "42"}]
    assert answer["result"]["isError"] is False
    assert "resultType" not in answer["result"]
    assert session_client.call_tool("novel__tool_4")["result"]["content"][0]["text"] == "tool_4"


def test_a_tool_error_reaches_the_client_as_a_result(session_client: McpHttp) -> None:
    answer = session_client.call_tool("novel__fail", {"message": "nope"})
    assert answer["result"]["isError"] is True
    assert "nope" in answer["result"]["content"][0]["text"]


def test_progress_is_relayed_to_a_session_era_client(session_client: McpHttp) -> None:
    response = session_client.post(
        {
            "jsonrpc": "2.0",
            "id": "p1",
            "method": "tools/call",
            "params": {
                "name": "novel__progress",
                "arguments": {"steps": 3},
                "_meta": {"progressToken": "pt"},
            },
        }
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = [orjson.loads(data) for data in sse.iter_data(response.content)]
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [m["params"]["progress"] for m in progress] == [1, 2, 3]
    assert {m["params"]["progressToken"] for m in progress} == {"pt"}
    assert messages[-1]["id"] == "p1"
    assert messages[-1]["result"]["content"][0]["text"] == "did 3 steps"


def test_an_sdk1_client_lists_and_calls(server_url: str, admin_token: str) -> None:
    outcome = sdk1_list_and_call(server_url, admin_token, "novel__echo", {"text": "across eras"})
    assert set(outcome["tools"]) == set(TOOLS)
    assert outcome["result"]["content"][0]["text"] == "across eras"


async def test_a_stateless_client_reaches_a_stateless_upstream(server_url: str, admin_token: str) -> None:
    outcome = await sdk2_list_and_call(server_url, admin_token, "novel__add", {"a": 1, "b": 2})
    assert outcome["protocol_version"] == "2026-07-28"
    assert outcome["result"]["content"][0]["text"] == "3"
