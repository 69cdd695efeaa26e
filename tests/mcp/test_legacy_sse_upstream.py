"""Upstreams speaking only the legacy HTTP+SSE transport (2024-11-05), served by the official SDK."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from switchboard_core.errors import UpstreamUnavailable
from switchboard_mcp.upstream import (
    LegacySseSession,
    UpstreamPool,
    UpstreamRPCError,
    UpstreamSession,
    new_http_client,
    open_upstream,
)
from switchboard_testing.outbound import LOOPBACK_ALLOWED
from switchboard_testing.ports import free_port
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


@pytest.fixture(scope="module")
def legacy() -> UpstreamProcess:
    with start_upstream(name="legacy", sse=True) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def modern() -> UpstreamProcess:
    with start_upstream(name="modern") as upstream:
        yield upstream


@pytest.fixture
async def http() -> aiohttp.ClientSession:
    client = new_http_client(policy=LOOPBACK_ALLOWED)
    yield client
    await client.close()


async def test_lists_and_calls_tools_over_one_event_stream(legacy, http) -> None:
    session = LegacySseSession(legacy.url, http)
    names = {tool["name"] for tool in await session.list_tools()}
    assert {"echo", "add", "fail", "slow"} <= names
    assert (await session.call_tool("add", {"a": 1, "b": 2}))["content"][0]["text"] == "3"
    assert session.server_info["name"] == "legacy"
    assert "tools" in session.capabilities
    await session.close()


async def test_concurrent_calls_get_their_own_answers(legacy, http) -> None:
    session = LegacySseSession(legacy.url, http)
    results = await asyncio.gather(*(session.call_tool("echo", {"text": f"n{i}"}) for i in range(20)))
    assert [r["content"][0]["text"] for r in results] == [f"n{i}" for i in range(20)]
    await session.close()


async def test_rpc_errors_pass_through(legacy, http) -> None:
    session = LegacySseSession(legacy.url, http)
    assert (await session.call_tool("fail", {"message": "x"}))["isError"] is True
    with pytest.raises(UpstreamRPCError):
        await session.request("no/such/method")
    await session.close()


async def test_a_stream_yields_progress_then_the_response(legacy, http) -> None:
    session = LegacySseSession(legacy.url, http)
    request_id = session.next_id()
    params = {"name": "progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "tok"}}
    messages = [m async for m in session.stream(request_id, "tools/call", params)]
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [p["params"]["progress"] for p in progress] == [1, 2, 3]
    assert messages[-1]["id"] == request_id
    assert messages[-1]["result"]["content"][0]["text"] == "did 3 steps"
    await session.close()


async def test_a_silent_upstream_times_out(legacy, http) -> None:
    session = LegacySseSession(legacy.url, http, timeout_s=0.5)
    with pytest.raises(UpstreamUnavailable, match="timed out|silent"):
        await session.call_tool("slow", {"seconds": 5})
    await session.close()


async def test_unreachable_upstream_is_unavailable(http) -> None:
    session = LegacySseSession(f"http://127.0.0.1:{free_port()}/sse", http)
    with pytest.raises(UpstreamUnavailable, match="unreachable"):
        await session.list_tools()


async def test_a_closed_session_reopens_on_the_next_request(legacy, http) -> None:
    session = LegacySseSession(legacy.url, http)
    await session.list_tools()
    await session.close()
    assert (await session.call_tool("echo", {"text": "again"}))["content"][0]["text"] == "again"
    await session.close()


async def test_the_factory_picks_streamable_http_when_offered(modern, http) -> None:
    session = await open_upstream(modern.url, http)
    assert isinstance(session, UpstreamSession)
    await session.close()


async def test_the_factory_takes_an_sse_url_for_legacy_sse(legacy, http) -> None:
    session = await open_upstream(legacy.url, http)
    assert isinstance(session, LegacySseSession)
    assert (await session.call_tool("echo", {"text": "hi"}))["content"][0]["text"] == "hi"
    await session.close()


async def test_the_pool_serves_both_transports(legacy, modern) -> None:
    pool = UpstreamPool(policy=LOOPBACK_ALLOWED)
    for upstream in (legacy, modern):
        result = await pool.session(upstream.url).call_tool("echo", {"text": upstream.name})
        assert result["content"][0]["text"] == upstream.name
    assert isinstance(pool.session(legacy.url), LegacySseSession)
    assert isinstance(pool.session(modern.url), UpstreamSession)
    await pool.close()


async def test_an_answer_slower_than_the_timeout_still_completes_a_legacy_call(legacy, http) -> None:
    session = LegacySseSession(legacy.url, http, timeout_s=1.0)
    await session.connect()

    async def answer_slowly() -> None:
        async for message in session.listen():
            if message.get("method") == "elicitation/create":
                await asyncio.sleep(2.0)  # a human taking their time (longer than the timeout)
                answer = {"action": "accept", "content": {"name": "Ada"}}
                await session.send({"jsonrpc": "2.0", "id": message["id"], "result": answer})
                return

    answering = asyncio.create_task(answer_slowly())
    request_id = session.next_id()
    final = None
    async for message in session.stream(
        request_id, "tools/call", {"name": "elicit", "arguments": {"question": "?"}}
    ):
        final = message
    await answering
    assert final["result"]["content"][0]["text"] == "accept: Ada"
    await session.close()
