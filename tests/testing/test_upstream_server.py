"""The fixture upstream answers the official 2.x SDK client directly (no gateway in between)."""

from __future__ import annotations

import httpx
import pytest
from switchboard_testing import start_upstream
from switchboard_testing.sdk_clients import sdk2_list_and_call

FIXTURE_TOOLS = [
    "echo",
    "add",
    "fail",
    "slow",
    "headers",
    "progress",
    "sample",
    "elicit",
    "roots",
    "grow",
    "touch",
    "interview",
    "session_counter",
    "tally",
    "route",
]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_sdk2_client_lists_the_fixture_tools_and_calls_add(upstream, mode):
    outcome = await sdk2_list_and_call(upstream.url, None, "add", {"a": 2, "b": 40}, mode=mode)

    assert outcome["tools"] == FIXTURE_TOOLS
    assert outcome["result"]["isError"] is False
    assert outcome["result"]["structuredContent"] == {"result": 42}
    assert outcome["result"]["content"] == [{"type": "text", "text": "42"}]


async def test_auto_mode_negotiates_a_newer_protocol_than_legacy(upstream):
    auto = await sdk2_list_and_call(upstream.url, None, "echo", {"text": "x"}, mode="auto")
    legacy = await sdk2_list_and_call(upstream.url, None, "echo", {"text": "x"}, mode="legacy")

    assert legacy["protocol_version"] < auto["protocol_version"]


async def test_echo_returns_the_text(upstream):
    outcome = await sdk2_list_and_call(upstream.url, None, "echo", {"text": "hello"})

    assert outcome["result"]["content"] == [{"type": "text", "text": "hello"}]


async def test_fail_tool_answers_with_an_error_result_carrying_the_message(upstream):
    outcome = await sdk2_list_and_call(upstream.url, None, "fail", {"message": "upstream says no"})

    assert outcome["result"]["isError"] is True
    assert "upstream says no" in outcome["result"]["content"][0]["text"]


async def test_slow_tool_answers_after_sleeping(upstream):
    outcome = await sdk2_list_and_call(upstream.url, None, "slow", {"seconds": 0.01})

    assert outcome["result"]["content"] == [{"type": "text", "text": "slept 0.01"}]


async def test_headers_tool_reports_the_headers_the_call_arrived_with_lower_cased(upstream):
    outcome = await sdk2_list_and_call(
        upstream.url,
        "secret-token",
        "headers",
        {},
        headers={
            "X-Switchboard-Probe": "probe-value",
            "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
        },
    )

    received = outcome["result"]["structuredContent"]
    assert received["x-switchboard-probe"] == "probe-value"
    assert received["traceparent"].startswith("00-1111")
    assert received["authorization"] == "Bearer secret-token"
    assert all(name == name.lower() for name in received)


async def test_extra_tools_option_adds_that_many_trivial_tools(upstream_factory):
    many = upstream_factory("many", extra_tools=50)

    outcome = await sdk2_list_and_call(many.url, None, "tool_49", {})

    assert len(outcome["tools"]) == len(FIXTURE_TOOLS) + 50
    assert outcome["tools"][: len(FIXTURE_TOOLS)] == FIXTURE_TOOLS
    assert outcome["result"]["content"] == [{"type": "text", "text": "tool_49"}]


async def test_upstream_factory_starts_independent_named_upstreams(upstream_factory):
    weather = upstream_factory("weather")
    billing = upstream_factory("billing")

    assert weather.port != billing.port
    for running in (weather, billing):
        outcome = await sdk2_list_and_call(running.url, None, "echo", {"text": running.name}, mode="legacy")
        assert outcome["result"]["content"][0]["text"] == running.name


def test_stateless_upstream_answers_a_lone_tools_call_with_plain_json():
    with start_upstream(stateless=True) as running:
        response = httpx.post(
            running.url,
            json={
                "jsonrpc": "2.0",
                "id": 7,
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "hi"}},
            },
            headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
        )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "mcp-session-id" not in response.headers
    assert response.json()["result"]["content"] == [{"type": "text", "text": "hi"}]


def test_upstream_process_is_stopped_when_the_context_exits():
    with start_upstream() as running:
        assert running.process.poll() is None

    assert running.process.returncode is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{running.base_url}/healthz", timeout=1.0)
