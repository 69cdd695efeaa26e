"""The official MCP Inspector's CLI (`@modelcontextprotocol/inspector --cli URL --transport http
--header "Authorization: Bearer …"`) lists and calls tools through the gateway, on a virtual
server's endpoint and on the all-tools endpoint. See docs/conformance.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.conformance import NodeUnavailable
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.inspector import (
    EXIT_AUTH_REQUIRED,
    InspectorError,
    call_tool,
    install_inspector,
    list_tool_names,
    run_inspector,
)
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

GATEWAY_NAME = "inspected"
# How each endpoint names the fixture's tools: the server is bare-named, /mcp prefixes.
TOOL_NAMES = {
    "server": {"echo": "echo", "add": "add"},
    "all": {"echo": f"{GATEWAY_NAME}__echo", "add": f"{GATEWAY_NAME}__add"},
}


@pytest.fixture(scope="module")
def inspector_installed() -> None:
    try:
        install_inspector()
    except NodeUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must be able to install the MCP Inspector and Node 22 from npm: {exc}")
        pytest.skip(f"the MCP Inspector needs Node 22 from npm, which could not be installed: {exc}")


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    with start_gateway() as process:
        yield process


@pytest.fixture(scope="module")
def token(gateway: GatewayProcess) -> str:
    return gateway.mint_token()


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name=GATEWAY_NAME) as process:
        yield process


@pytest.fixture(scope="module")
def endpoints(gateway: GatewayProcess, token: str, upstream: UpstreamProcess) -> dict[str, str]:
    auth = {"authorization": f"Bearer {token}"}
    with httpx.Client(base_url=gateway.base_url, headers=auth, timeout=30) as admin:
        register(admin, GATEWAY_NAME, upstream.url)
        prefixed = [f"{GATEWAY_NAME}__echo", f"{GATEWAY_NAME}__add"]
        server_id = create_server(admin, "inspected-server", prefixed, bare_names=True)
    return {"server": f"{gateway.base_url}/servers/{server_id}/mcp", "all": f"{gateway.base_url}/mcp"}


@pytest.mark.parametrize("endpoint", ["server", "all"])
def test_inspector_lists_the_tools_through_the_gateway(
    inspector_installed: None, endpoints: dict[str, str], token: str, endpoint: str
) -> None:
    names = list_tool_names(endpoints[endpoint], token)
    expected = set(TOOL_NAMES[endpoint].values())
    if endpoint == "server":
        assert set(names) == expected
    else:
        assert expected <= set(names)


@pytest.mark.parametrize("endpoint", ["server", "all"])
def test_inspector_calls_echo_with_a_key_value_argument(
    inspector_installed: None, endpoints: dict[str, str], token: str, endpoint: str
) -> None:
    echo = TOOL_NAMES[endpoint]["echo"]
    result = _tools_call(endpoints[endpoint], token, echo, "text=hello inspector")
    assert result["isError"] is False
    assert result["content"] == [{"type": "text", "text": "hello inspector"}]


@pytest.mark.parametrize("endpoint", ["server", "all"])
def test_inspector_calls_add_with_numbers(
    inspector_installed: None, endpoints: dict[str, str], token: str, endpoint: str
) -> None:
    add = TOOL_NAMES[endpoint]["add"]
    result = _tools_call(endpoints[endpoint], token, add, "a=20", "b=22")
    assert result["content"][0]["text"] == "42"
    assert result["structuredContent"] == {"result": 42}


def test_inspector_sends_json_arguments_verbatim(
    inspector_installed: None, endpoints: dict[str, str], token: str
) -> None:
    result = call_tool(endpoints["server"], token, "echo", {"text": "42"})
    assert result["content"] == [{"type": "text", "text": "42"}]


@pytest.mark.parametrize("endpoint", ["server", "all"])
def test_inspector_without_a_token_fails_with_an_auth_error(
    inspector_installed: None, endpoints: dict[str, str], endpoint: str
) -> None:
    with pytest.raises(InspectorError) as failure:
        list_tool_names(endpoints[endpoint], None)
    assert failure.value.exit_code == EXIT_AUTH_REQUIRED, str(failure.value)
    assert failure.value.error is not None and failure.value.error["code"] == "auth_required"
    assert "missing bearer token" in failure.value.error["message"]


def test_inspector_with_a_wrong_token_fails_with_an_auth_error(
    inspector_installed: None, endpoints: dict[str, str]
) -> None:
    with pytest.raises(InspectorError) as failure:
        list_tool_names(endpoints["server"], "not-a-token")
    assert failure.value.exit_code == EXIT_AUTH_REQUIRED, str(failure.value)
    assert failure.value.error is not None and failure.value.error["code"] == "auth_required"


def test_inspector_negotiating_the_protocol_era_automatically_still_calls_tools(
    inspector_installed: None, endpoints: dict[str, str], token: str
) -> None:
    era = ("--protocol-era", "auto")
    listed = run_inspector(endpoints["server"], token, *era, "--method", "tools/list")
    called = _tools_call(endpoints["server"], token, "echo", "text=auto", options=era)
    assert {tool["name"] for tool in listed["tools"]} == {"echo", "add"}
    assert called["content"] == [{"type": "text", "text": "auto"}]


def _tools_call(url: str, token: str, tool: str, *pairs: str, options: tuple[str, ...] = ()) -> dict:
    """`--method tools/call --tool-name TOOL --tool-arg k=v ...`, as typed in a shell."""
    return run_inspector(
        url, token, *options, "--method", "tools/call", "--tool-name", tool, "--tool-arg", *pairs
    )
