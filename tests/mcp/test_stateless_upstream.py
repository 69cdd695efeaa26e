"""Upstreams serving only the stateless revision 2026-07-28 (the official SDK behind a
fixture that refuses the initialize handshake), read as if they spoke 2025-11-25."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from switchboard_core.errors import UpstreamError, UpstreamUnavailable
from switchboard_mcp import jsonrpc
from switchboard_mcp.upstream import (
    NegotiatingUpstream,
    StatelessUpstream,
    UpstreamPool,
    UpstreamRPCError,
    UpstreamSession,
    new_http_client,
    open_upstream,
)
from switchboard_testing.outbound import LOOPBACK_ALLOWED
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

PAGE_SIZE = 4
EXTRA_TOOLS = 7
HOP_FIELDS = ("resultType", "ttlMs", "cacheScope")


@pytest.fixture(scope="module")
def modern_only() -> UpstreamProcess:
    with start_upstream(
        name="modern-only", modern_only=True, page_size=PAGE_SIZE, extra_tools=EXTRA_TOOLS
    ) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def session_era() -> UpstreamProcess:
    with start_upstream(name="session-era") as upstream:
        yield upstream


@pytest.fixture
async def http() -> aiohttp.ClientSession:
    client = new_http_client(policy=LOOPBACK_ALLOWED)
    yield client
    await client.close()


@pytest.fixture
async def upstream(modern_only, http) -> StatelessUpstream:
    session = StatelessUpstream(modern_only.url, http)
    yield session
    await session.close()


async def test_discover_tells_who_the_upstream_is_and_what_it_offers(upstream) -> None:
    await upstream.connect()
    assert upstream.protocol_version == "2026-07-28"
    assert upstream.server_info["name"] == "modern-only"
    assert upstream.capabilities["tools"] == {"listChanged": True}
    # Subscriptions are served over the listen stream; log levels are per request.
    assert upstream.capabilities["resources"]["subscribe"] is True
    assert "logging" not in upstream.capabilities


async def test_a_subscribed_resources_updates_arrive_on_listen(upstream) -> None:
    assert await upstream.request("resources/subscribe", {"uri": "fixture://static"}) == {}
    opened = asyncio.Event()
    updates = upstream.listen(opened)
    first = asyncio.ensure_future(anext(updates))
    async with asyncio.timeout(10):
        await opened.wait()
        await upstream.call_tool("touch", {"uri": "fixture://static"})
        update = await first
    assert update["method"] == "notifications/resources/updated"
    assert update["params"]["uri"] == "fixture://static"

    # Subscribing to another resource reopens the stream with both, unseen by the listener.
    await upstream.request("resources/subscribe", {"uri": "fixture://items/7"})
    nxt = asyncio.ensure_future(anext(updates))
    async with asyncio.timeout(10):
        while not nxt.done():  # the reopened stream may miss a touch sent before it is acknowledged
            await upstream.call_tool("touch", {"uri": "fixture://items/7"})
            await asyncio.wait({nxt}, timeout=0.2)
    assert nxt.result()["params"]["uri"] == "fixture://items/7"
    await updates.aclose()


async def test_tools_are_listed_across_every_page(upstream) -> None:
    first = await upstream.request("tools/list")
    assert len(first["tools"]) == PAGE_SIZE
    assert first["nextCursor"]
    assert not any(field in first for field in HOP_FIELDS)
    assert "_meta" not in first
    names = [tool["name"] for tool in await upstream.list_tools()]
    assert len(names) == len(set(names))
    assert {"echo", "add", "fail", "progress", *(f"tool_{i}" for i in range(EXTRA_TOOLS))} <= set(names)
    assert len(names) > 3 * PAGE_SIZE


async def test_a_call_result_reads_like_one_from_a_session_era_upstream(upstream) -> None:
    result = await upstream.call_tool("add", {"a": 2, "b": 3})
    assert result == {
        "content": [{"type": "text", "text": "5"}],
        "isError": False,
        "structuredContent": {"result": 5},
    }


async def test_a_tool_error_is_a_result_and_an_rpc_error_is_raised(upstream) -> None:
    failed = await upstream.call_tool("fail", {"message": "boom"})
    assert failed["isError"] is True
    assert "boom" in failed["content"][0]["text"]
    with pytest.raises(UpstreamRPCError) as raised:
        await upstream.request("no/such/method")
    assert raised.value.code == jsonrpc.METHOD_NOT_FOUND


async def test_a_name_that_is_not_plain_ascii_still_matches_its_header(upstream) -> None:
    # A mismatched Mcp-Name header would be refused with -32020 before the call ran.
    result = await upstream.call_tool("naïve tool", {})
    assert result["isError"] is True
    assert "naïve tool" in result["content"][0]["text"]


async def test_a_stream_yields_progress_then_the_response(upstream) -> None:
    request_id = upstream.next_id()
    params = {"name": "progress", "arguments": {"steps": 3}, "_meta": {"progressToken": "tok"}}
    messages = [m async for m in upstream.stream(request_id, "tools/call", params)]
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [p["params"]["progress"] for p in progress] == [1, 2, 3]
    assert {p["params"]["progressToken"] for p in progress} == {"tok"}
    assert messages[-1]["id"] == request_id
    assert messages[-1]["result"]["content"][0]["text"] == "did 3 steps"
    assert "resultType" not in messages[-1]["result"]


async def test_an_rpc_error_ends_a_stream_as_the_response(upstream) -> None:
    request_id = upstream.next_id()
    messages = [m async for m in upstream.stream(request_id, "no/such/method", {})]
    assert messages == [
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "error": {"code": -32601, "message": "Method not found", "data": "no/such/method"},
        }
    ]


async def test_cancelling_closes_the_request_stream(upstream) -> None:
    request_id = upstream.next_id()
    params = {"name": "progress", "arguments": {"steps": 200, "delay": 0.05}, "_meta": {"progressToken": 1}}
    messages = upstream.stream(request_id, "tools/call", params)
    first = await anext(messages)
    assert first["method"] == "notifications/progress"
    await upstream.send(jsonrpc.notification("notifications/cancelled", {"requestId": request_id}))
    async with asyncio.timeout(5):
        with pytest.raises(UpstreamError, match="cancelled"):
            async for _ in messages:
                pass


async def test_a_ping_is_a_discover(upstream) -> None:
    assert await upstream.request("ping") == {}


async def test_notifications_are_accepted_and_stray_responses_refused(upstream) -> None:
    await upstream.send(jsonrpc.notification("notifications/roots/list_changed"))
    with pytest.raises(UpstreamError, match="not waiting for an answer"):
        await upstream.send(jsonrpc.result("sb-1", {}))


async def test_list_changes_arrive_on_a_listen_stream(upstream) -> None:
    opened = asyncio.Event()
    heard: list[dict] = []

    async def follow() -> None:
        async for message in upstream.listen(opened):
            heard.append(message)
            return

    follower = asyncio.create_task(follow())
    async with asyncio.timeout(10):
        await opened.wait()
        await upstream.call_tool("grow", {"name": "grown_while_listening"})
        await follower
    assert heard == [{"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}]


async def test_a_silent_upstream_times_out(modern_only, http) -> None:
    upstream = StatelessUpstream(modern_only.url, http, timeout_s=0.5)
    with pytest.raises(UpstreamUnavailable, match="timed out|silent"):
        await upstream.call_tool("slow", {"seconds": 5})


async def test_the_handshake_is_refused_naming_only_the_stateless_revision(modern_only, http) -> None:
    with pytest.raises(UpstreamRPCError) as raised:
        await UpstreamSession(modern_only.url, http).connect()
    assert raised.value.code == -32022
    assert raised.value.rpc_data["supported"] == ["2026-07-28"]


async def test_negotiation_falls_back_to_the_stateless_revision(modern_only, http) -> None:
    session = await open_upstream(modern_only.url, http)
    assert isinstance(session, StatelessUpstream)
    negotiating = NegotiatingUpstream(modern_only.url, http)
    assert (await negotiating.call_tool("echo", {"text": "hi"}))["content"][0]["text"] == "hi"
    assert isinstance(negotiating.resolved, StatelessUpstream)
    assert negotiating.protocol_version == "2026-07-28"
    await negotiating.close()


async def test_a_session_era_upstream_keeps_its_session(session_era, http) -> None:
    session = await open_upstream(session_era.url, http)
    assert isinstance(session, UpstreamSession)
    assert session.protocol_version == "2025-11-25"
    await session.close()


async def test_the_pool_serves_both_eras(modern_only, session_era) -> None:
    pool = UpstreamPool(policy=LOOPBACK_ALLOWED)
    for upstream in (modern_only, session_era):
        result = await pool.session(upstream.url).call_tool("echo", {"text": upstream.name})
        assert result["content"][0]["text"] == upstream.name
    assert isinstance(pool.session(modern_only.url), StatelessUpstream)
    assert isinstance(pool.session(session_era.url), UpstreamSession)
    await pool.close()
