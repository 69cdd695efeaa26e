"""A human may take longer than the upstream timeout to answer an upstream's question:
with `SWITCHBOARD_UPSTREAM_TIMEOUT_S=1`, an elicitation answered after 2 s still
completes the call, for a session client and for a stateless client's parked call
alike, while an upstream silent for longer with nothing asked still times out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import httpx2
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.upstream_process import UpstreamProcess

ANSWER_AFTER_S = 2.0  # longer than the upstream timeout


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    with start_gateway({"SWITCHBOARD_UPSTREAM_TIMEOUT_S": "1"}) as process:
        yield process


@pytest.fixture(scope="module")
def url(gateway: GatewayProcess, admin: httpx.Client, fixture_upstream: UpstreamProcess) -> str:
    register(admin, "patient", fixture_upstream.url)
    server = create_server(
        admin, "patient", ["patient__elicit", "patient__interview", "patient__slow"], bare_names=True
    )
    return f"{gateway.base_url}/servers/{server}/mcp"


async def _slow_elicitation(context, params: types.ElicitRequestParams) -> types.ElicitResult:
    await asyncio.sleep(ANSWER_AFTER_S)  # the human thinking: a deliberate delay
    return types.ElicitResult(action="accept", content={"name": "Ada"})


async def _slow_sampling(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    await asyncio.sleep(ANSWER_AFTER_S)
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text="tea is good"), model="m"
    )


async def _call(
    url: str, token: str, mode: str, tool: str, arguments: dict
) -> types.CallToolResult | MCPError:
    """The tool's result, or the JSON-RPC error the call was answered with."""
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            elicitation_callback=_slow_elicitation,
            sampling_callback=_slow_sampling,
        ) as client:
            try:
                return await client.call_tool(tool, arguments)
            except MCPError as exc:
                return exc


async def test_a_session_client_answering_after_the_upstream_timeout_completes_its_call(
    url: str, admin_token: str
) -> None:
    result = await _call(url, admin_token, "legacy", "elicit", {"question": "Name?"})
    assert not result.is_error, result
    assert result.content[0].text == "accept: Ada"


async def test_a_parked_stateless_call_answered_after_the_upstream_timeout_completes(
    url: str, admin_token: str
) -> None:
    result = await _call(url, admin_token, "2026-07-28", "interview", {"topic": "tea"})
    assert not result.is_error, result
    assert result.content[0].text == "Ada on tea: tea is good"


async def test_an_upstream_silent_past_the_timeout_with_nothing_asked_still_fails(
    url: str, admin_token: str
) -> None:
    failed = await _call(url, admin_token, "legacy", "slow", {"seconds": 3})
    assert isinstance(failed, MCPError)
    assert "went silent for 1s" in failed.message
