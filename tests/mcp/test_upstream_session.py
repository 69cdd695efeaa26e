"""UpstreamSession against a real MCP server (the official SDK), JSON and SSE answers."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from switchboard_core.errors import UpstreamError, UpstreamUnavailable
from switchboard_mcp.upstream import UpstreamRPCError, UpstreamSession, new_http_client
from switchboard_testing.outbound import LOOPBACK_ALLOWED
from switchboard_testing.ports import free_port
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


@pytest.fixture(scope="module")
def stateful() -> UpstreamProcess:
    with start_upstream(name="stateful") as upstream:
        yield upstream


@pytest.fixture(scope="module")
def stateless() -> UpstreamProcess:
    with start_upstream(name="stateless", stateless=True) as upstream:
        yield upstream


@pytest.fixture
async def http() -> aiohttp.ClientSession:
    client = new_http_client(policy=LOOPBACK_ALLOWED)
    yield client
    await client.close()


@pytest.mark.parametrize("kind", ["stateful", "stateless"])
async def test_lists_and_calls_tools(request, http, kind: str) -> None:
    upstream: UpstreamProcess = request.getfixturevalue(kind)
    session = UpstreamSession(upstream.url, http)
    names = {tool["name"] for tool in await session.list_tools()}
    assert {"echo", "add", "fail", "slow", "headers"} <= names
    result = await session.call_tool("add", {"a": 1, "b": 2})
    assert result["content"][0]["text"] == "3"
    assert session.server_info["name"] == kind
    await session.close()


async def test_extra_headers_reach_the_upstream(stateful, http) -> None:
    session = UpstreamSession(stateful.url, http)
    result = await session.call_tool(
        "headers", {}, extra_headers={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    )
    assert "a" * 32 in str(result)
    await session.close()


async def test_a_session_ended_upstream_is_reopened_once(stateful, http) -> None:
    session = UpstreamSession(stateful.url, http)
    await session.list_tools()
    first = session._session_headers["mcp-session-id"]
    async with http.delete(stateful.url, headers=session._session_headers):
        pass
    result = await session.call_tool("echo", {"text": "again"})
    assert result["content"][0]["text"] == "again"
    assert session._session_headers["mcp-session-id"] != first
    await session.close()


async def test_tool_errors_and_rpc_errors_are_told_apart(stateful, http) -> None:
    session = UpstreamSession(stateful.url, http)
    assert (await session.call_tool("fail", {"message": "x"}))["isError"] is True
    with pytest.raises(UpstreamRPCError):
        await session.request("no/such/method")
    await session.close()


async def test_unreachable_upstream_is_unavailable(http) -> None:
    session = UpstreamSession(f"http://127.0.0.1:{free_port()}/mcp", http)
    with pytest.raises(UpstreamUnavailable, match="unreachable"):
        await session.list_tools()


async def test_a_slow_upstream_times_out(stateful, http) -> None:
    session = UpstreamSession(stateful.url, http, timeout_s=0.5)
    await session.list_tools()
    with pytest.raises(UpstreamUnavailable, match="timed out"):
        await session.call_tool("slow", {"seconds": 5})


async def test_a_web_page_is_not_an_mcp_server(stateful, http) -> None:
    session = UpstreamSession(f"{stateful.base_url}/healthz", http)
    with pytest.raises(UpstreamError):
        await session.list_tools()


async def _elicit_answered_after(session: UpstreamSession, delay_s: float) -> dict:
    """Call `elicit` streaming, answer its question `delay_s` after it came; the final response."""
    request_id = session.next_id()
    messages = session.stream(request_id, "tools/call", {"name": "elicit", "arguments": {"question": "?"}})
    async for message in messages:
        if message.get("method") == "elicitation/create":
            await asyncio.sleep(delay_s)  # a human taking their time (deliberately longer than the timeout)
            answer = {"action": "accept", "content": {"name": "Ada"}}
            await session.send({"jsonrpc": "2.0", "id": message["id"], "result": answer})
        elif message.get("id") == request_id:
            await messages.aclose()
            return message
    raise AssertionError("the stream ended without the response")


async def test_an_answer_slower_than_the_upstream_timeout_still_completes_the_call(stateful, http) -> None:
    session = UpstreamSession(stateful.url, http, timeout_s=1.0)
    final = await _elicit_answered_after(session, 2.0)
    assert final["result"]["content"][0]["text"] == "accept: Ada"
    await session.close()


async def test_the_silence_limit_counts_again_from_the_answer(stateful, http) -> None:
    session = UpstreamSession(stateful.url, http, timeout_s=1.0)
    await _elicit_answered_after(session, 1.5)
    request_id = session.next_id()
    messages = session.stream(request_id, "tools/call", {"name": "slow", "arguments": {"seconds": 3}})
    with pytest.raises(UpstreamUnavailable, match="went silent"):
        async for _ in messages:
            pass
    await session.close()


async def test_a_client_that_never_answers_ends_the_call_after_the_answer_wait(stateful, http) -> None:
    session = UpstreamSession(stateful.url, http, timeout_s=5.0, answer_wait_s=1.0)
    request_id = session.next_id()
    messages = session.stream(request_id, "tools/call", {"name": "elicit", "arguments": {"question": "?"}})
    started = None
    with pytest.raises(
        UpstreamUnavailable, match="the client did not answer the upstream's request within 1s"
    ):
        async for message in messages:
            if message.get("method") == "elicitation/create":
                started = time.monotonic()  # and never answered
    assert started is not None and time.monotonic() - started < 3.0
    await session.close()
