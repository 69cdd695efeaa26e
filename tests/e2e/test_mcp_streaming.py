"""Streamed exchanges through the gateway: progress and log messages, and requests an
upstream sends the client mid-call (sampling, elicitation, roots), answered by the
client and routed back to that upstream call."""

from __future__ import annotations

import asyncio

import httpx
import httpx2
import orjson
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from switchboard_mcp import sse
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

TOOLS = ["progress", "sample", "elicit", "roots", "echo"]


@pytest.fixture(scope="module")
def endpoint(gateway: GatewayProcess, admin: httpx.Client, fixture_upstream: UpstreamProcess) -> str:
    register(admin, "live", fixture_upstream.url)
    server = create_server(admin, "live", [f"live__{t}" for t in TOOLS], bare_names=True)
    return f"{gateway.base_url}/servers/{server}/mcp"


async def _sampling(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    asked = params.messages[0].content.text
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"model says: {asked}"),
        model="test-model",
    )


async def _elicitation(context, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "Ada"})


async def _roots(context) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///work/project", name="project")])


def _client(url: str, token: str, http: httpx2.AsyncClient, **callbacks) -> Client:
    return Client(streamable_http_client(url, http_client=http), mode="legacy", **callbacks)


async def test_progress_and_log_messages_reach_the_client(endpoint: str, admin_token: str) -> None:
    seen: list[float] = []
    logs: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(str(params.data))

    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        async with _client(endpoint, admin_token, http, logging_callback=on_log) as client:
            result = await client.call_tool("progress", {"steps": 3}, progress_callback=on_progress)
    assert result.content[0].text == "did 3 steps"
    assert seen == [1, 2, 3]
    assert any("starting 3 steps" in line for line in logs)


async def test_sampling_request_is_answered_by_the_client(endpoint: str, admin_token: str) -> None:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        async with _client(endpoint, admin_token, http, sampling_callback=_sampling) as client:
            result = await client.call_tool("sample", {"prompt": "two plus two"})
    assert result.content[0].text == "model says: two plus two"


async def test_elicitation_request_is_answered_by_the_client(endpoint: str, admin_token: str) -> None:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        async with _client(endpoint, admin_token, http, elicitation_callback=_elicitation) as client:
            result = await client.call_tool("elicit", {"question": "Your name?"})
    assert result.content[0].text == "accept: Ada"


async def test_roots_request_is_answered_by_the_client(endpoint: str, admin_token: str) -> None:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        async with _client(endpoint, admin_token, http, list_roots_callback=_roots) as client:
            result = await client.call_tool("roots", {})
    assert "file:///work/project" in result.content[0].text


async def test_concurrent_clients_get_their_own_answers(endpoint: str, admin_token: str) -> None:
    async def ask(word: str) -> str:
        async def sampling(context, params):
            return types.CreateMessageResult(
                role="assistant", content=types.TextContent(type="text", text=word), model="m"
            )

        async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
            async with _client(endpoint, admin_token, http, sampling_callback=sampling) as client:
                return (await client.call_tool("sample", {"prompt": "?"})).content[0].text

    words = [f"word-{i}" for i in range(5)]
    assert await asyncio.gather(*(ask(w) for w in words)) == words


def test_a_streamed_reply_is_sse_with_the_response_last(endpoint: str, admin_token: str) -> None:
    client = McpHttp(endpoint, admin_token)
    client.initialize()
    response = client.post(
        {
            "jsonrpc": "2.0",
            "id": "call-1",
            "method": "tools/call",
            "params": {"name": "progress", "arguments": {"steps": 2}, "_meta": {"progressToken": "p1"}},
        }
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = [orjson.loads(data) for data in sse.iter_data(response.content)]
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [m["params"]["progressToken"] for m in progress] == ["p1", "p1"]
    assert messages[-1]["id"] == "call-1"
    assert messages[-1]["result"]["content"][0]["text"] == "did 2 steps"


def test_a_plain_reply_stays_json(endpoint: str, admin_token: str) -> None:
    client = McpHttp(endpoint, admin_token)
    client.initialize()
    response = client.post(
        {
            "jsonrpc": "2.0",
            "id": 9,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "x"}},
        }
    )
    assert response.headers["content-type"].startswith("application/json")


def test_open_sessions_hear_about_catalog_changes(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str, endpoint: str
) -> None:
    client = McpHttp(endpoint, admin_token)
    client.initialize()
    with httpx.stream("GET", endpoint, headers=client.headers(), timeout=20) as stream:
        assert stream.status_code == 200
        with start_upstream(name="newcomer") as newcomer:
            register(admin, "newcomer", newcomer.url)
            decoder = sse.Decoder()
            for chunk in stream.iter_bytes():
                events = decoder.feed(chunk)
                methods = {orjson.loads(e.data).get("method") for e in events if e.data}
                if "notifications/tools/list_changed" in methods:
                    break
            else:
                pytest.fail("the GET stream ended without a list_changed notification")
