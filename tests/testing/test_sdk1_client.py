"""The 1.x SDK harness drives the fixture upstream from its own environment."""

from __future__ import annotations

import pytest
from switchboard_testing import SdkClientError
from switchboard_testing.sdk_clients import sdk1_list_and_call


def test_sdk1_client_lists_the_fixture_tools_and_calls_echo(upstream):
    outcome = sdk1_list_and_call(upstream.url, "a-token", "echo", {"text": "from 1.x"})

    assert outcome["sdk_version"].startswith("1.")
    assert outcome["tools"][:5] == ["echo", "add", "fail", "slow", "headers"]
    assert outcome["protocol_version"] < "2026"
    assert outcome["result"]["isError"] is False
    assert outcome["result"]["content"] == [{"type": "text", "text": "from 1.x"}]


def test_sdk1_client_sends_the_bearer_token_and_extra_headers(upstream):
    outcome = sdk1_list_and_call(upstream.url, "a-token", "headers", {}, headers={"X-Probe": "one"})

    received = outcome["result"]["structuredContent"]
    assert received["authorization"] == "Bearer a-token"
    assert received["x-probe"] == "one"


def test_sdk1_client_failure_raises_with_the_client_output(upstream):
    missing = upstream.url.replace("/mcp", "/not-mcp")

    with pytest.raises(SdkClientError, match="stderr"):
        sdk1_list_and_call(missing, None, "echo", {"text": "x"})
