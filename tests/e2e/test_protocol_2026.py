"""Clients of the stateless MCP revision 2026-07-28 through the gateway: `server/discover`,
the per-request envelope and routing headers, SSE answers, `subscriptions/listen`."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import httpx2
import orjson
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.inbound import ERROR_CODE_HTTP_STATUS, InboundLadderRejection, classify_inbound_request
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    HEADER_MISMATCH,
    PROTOCOL_VERSION_META_KEY,
    SERVER_INFO_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
    DiscoverResult,
)
from switchboard_mcp import sse
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.sdk_clients import sdk2_list_and_call
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

MODERN = "2026-07-28"
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"


@pytest.fixture(scope="module")
def endpoints(
    gateway: GatewayProcess, admin: httpx.Client, fixture_upstream: UpstreamProcess
) -> dict[str, str]:
    register(admin, "modern", fixture_upstream.url)
    server = create_server(
        admin, "modern-server", ["modern__echo", "modern__add", "modern__progress", "modern__sample"]
    )
    return {"server": f"{gateway.base_url}/servers/{server}/mcp", "all": f"{gateway.base_url}/mcp"}


def envelope(version: str = MODERN) -> dict[str, Any]:
    return {
        PROTOCOL_VERSION_META_KEY: version,
        CLIENT_INFO_META_KEY: {"name": "raw-test", "version": "1"},
        CLIENT_CAPABILITIES_META_KEY: {},
    }


def request(method: str, params: dict | None = None, *, id_: int | str = 1, version: str = MODERN) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": id_,
        "method": method,
        "params": {**(params or {}), "_meta": envelope(version)},
    }


def routing_headers(body: dict, token: str, *, version: str = MODERN) -> dict[str, str]:
    headers = {
        "authorization": f"Bearer {token}",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": version,
        "mcp-method": body["method"],
    }
    name = (body.get("params") or {}).get("name")
    if name is not None:
        headers["mcp-name"] = name
    return headers


def post(url: str, body: dict, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        url, content=orjson.dumps(body), headers={**headers, "content-type": "application/json"}
    )


# -- the official 2.x client --------------------------------------------------


@pytest.mark.parametrize("endpoint", ["server", "all"])
async def test_sdk2_client_in_auto_mode_negotiates_2026_and_lists_and_calls(
    endpoints: dict[str, str], admin_token: str, endpoint: str
) -> None:
    outcome = await sdk2_list_and_call(endpoints[endpoint], admin_token, "modern__add", {"a": 20, "b": 22})
    assert outcome["protocol_version"] == MODERN
    assert {"modern__echo", "modern__add"} <= set(outcome["tools"])
    if endpoint == "server":
        assert set(outcome["tools"]) == {"modern__echo", "modern__add", "modern__progress", "modern__sample"}
    assert outcome["result"]["content"][0]["text"] == "42"


@pytest.mark.parametrize("endpoint", ["server", "all"])
async def test_sdk2_client_pinned_to_2026_lists_calls_and_streams_progress(
    endpoints: dict[str, str], admin_token: str, endpoint: str
) -> None:
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http:
        async with Client(
            streamable_http_client(endpoints[endpoint], http_client=http), mode=MODERN
        ) as client:
            assert client.protocol_version == MODERN
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert "modern__echo" in names
            echoed = await client.call_tool("modern__echo", {"text": "stateless"})
            assert echoed.content[0].text == "stateless"
            streamed = await client.call_tool("modern__progress", {"steps": 3}, progress_callback=on_progress)
            assert streamed.content[0].text == "did 3 steps"
    assert progress == [1, 2, 3]


async def test_sdk2_client_hears_catalog_changes_on_a_listen_stream(
    endpoints: dict[str, str], admin: httpx.Client, admin_token: str
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0)) as http:
        async with Client(streamable_http_client(endpoints["all"], http_client=http), mode=MODERN) as client:
            async with client.listen(tools_list_changed=True) as subscription:
                assert subscription.honored.tools_list_changed is True
                with start_upstream(name="listened") as newcomer:
                    register(admin, "listened", newcomer.url)
                    with anyio.fail_after(20):
                        event = await anext(aiter(subscription))
            assert type(event).__name__ == "ToolsListChanged"
            assert "listened__echo" in [tool.name for tool in (await client.list_tools()).tools]


# -- server/discover and version negotiation -----------------------------------


def test_discover_names_every_version_and_the_capabilities(
    endpoints: dict[str, str], admin_token: str
) -> None:
    body = request("server/discover")
    response = post(endpoints["server"], body, routing_headers(body, admin_token))
    assert response.status_code == 200
    assert "mcp-session-id" not in response.headers
    result = response.json()["result"]
    assert result["supportedVersions"] == ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"]
    assert result["capabilities"]["tools"] == {"listChanged": True}
    assert result["resultType"] == "complete"
    assert result["_meta"][SERVER_INFO_META_KEY]["name"] == "switchboard"
    DiscoverResult.model_validate(result)


def test_discover_at_a_handshake_era_version_names_the_supported_ones(
    endpoints: dict[str, str], admin_token: str
) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "server/discover"}
    headers = {"authorization": f"Bearer {admin_token}", "mcp-protocol-version": "2025-11-25"}
    response = post(endpoints["server"], body, headers)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == UNSUPPORTED_PROTOCOL_VERSION
    assert MODERN in error["data"]["supported"]
    assert error["data"]["requested"] == "2025-11-25"


def test_an_unsupported_version_is_refused_with_the_supported_list(
    endpoints: dict[str, str], admin_token: str
) -> None:
    body = request("tools/list", version="2099-01-01")
    response = post(endpoints["server"], body, routing_headers(body, admin_token, version="2099-01-01"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == UNSUPPORTED_PROTOCOL_VERSION
    assert error["data"] == {
        "supported": ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"],
        "requested": "2099-01-01",
    }


def test_discover_for_an_unknown_server_is_not_found(gateway: GatewayProcess, admin_token: str) -> None:
    body = request("server/discover")
    response = post(f"{gateway.base_url}/servers/nope/mcp", body, routing_headers(body, admin_token))
    assert response.status_code == 404


# -- the header rules, exactly as the SDK applies them --------------------------


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key != name}


def _bad_requests(token: str) -> dict[str, tuple[dict, dict[str, str]]]:
    call = request("tools/call", {"name": "modern__echo", "arguments": {"text": "x"}})
    listing = request("tools/list")
    no_meta = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    return {
        "missing Mcp-Method": (listing, _without(routing_headers(listing, token), "mcp-method")),
        "mismatched Mcp-Method": (listing, {**routing_headers(listing, token), "mcp-method": "prompts/list"}),
        "missing Mcp-Name": (call, _without(routing_headers(call, token), "mcp-name")),
        "mismatched Mcp-Name": (call, {**routing_headers(call, token), "mcp-name": "modern__add"}),
        "version header disagrees with the envelope": (
            request("tools/list", version="2099-01-01"),
            routing_headers(listing, token),
        ),
        "no envelope": (no_meta, routing_headers(no_meta, token)),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing Mcp-Method",
        "mismatched Mcp-Method",
        "missing Mcp-Name",
        "mismatched Mcp-Name",
        "version header disagrees with the envelope",
        "no envelope",
    ],
)
def test_header_rules_answer_with_the_sdks_code_and_status(
    endpoints: dict[str, str], admin_token: str, case: str
) -> None:
    body, headers = _bad_requests(admin_token)[case]
    expected = classify_inbound_request(
        body, headers={k: v for k, v in headers.items() if k != "authorization"}
    )
    assert isinstance(expected, InboundLadderRejection)
    response = post(endpoints["server"], body, headers)
    assert response.status_code == ERROR_CODE_HTTP_STATUS[expected.code]
    assert response.json()["error"]["code"] == expected.code
    assert response.json()["id"] == 1


def test_mismatched_mcp_name_is_a_400_header_mismatch(endpoints: dict[str, str], admin_token: str) -> None:
    body = request("tools/call", {"name": "modern__echo", "arguments": {"text": "x"}})
    response = post(endpoints["server"], body, {**routing_headers(body, admin_token), "mcp-name": "other"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == HEADER_MISMATCH


def test_a_base64_wrapped_mcp_name_matches(endpoints: dict[str, str], admin_token: str) -> None:
    body = request("tools/call", {"name": "modern__echo", "arguments": {"text": "x"}})
    headers = {**routing_headers(body, admin_token), "mcp-name": "=?base64?bW9kZXJuX19lY2hv?="}
    response = post(endpoints["server"], body, headers)
    assert response.status_code == 200
    assert response.json()["result"]["content"][0]["text"] == "x"


# -- answers --------------------------------------------------------------------


def test_a_call_answers_json_shaped_for_2026(endpoints: dict[str, str], admin_token: str) -> None:
    body = request("tools/call", {"name": "modern__add", "arguments": {"a": 1, "b": 2}}, id_="c-1")
    response = post(endpoints["server"], body, routing_headers(body, admin_token))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    reply = response.json()
    assert reply["id"] == "c-1"
    assert reply["result"]["content"][0]["text"] == "3"
    assert reply["result"]["resultType"] == "complete"


def test_lists_carry_cache_hints(endpoints: dict[str, str], admin_token: str) -> None:
    body = request("tools/list")
    result = post(endpoints["server"], body, routing_headers(body, admin_token)).json()["result"]
    assert result["ttlMs"] == 0
    assert result["cacheScope"] == "private"
    assert result["resultType"] == "complete"


def test_an_unknown_tool_is_a_400_invalid_params(endpoints: dict[str, str], admin_token: str) -> None:
    body = request("tools/call", {"name": "modern__nope", "arguments": {}})
    response = post(endpoints["server"], body, routing_headers(body, admin_token))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32602


@pytest.mark.parametrize("method", ["ping", "resources/subscribe", "logging/setLevel", "nope/nope"])
def test_methods_outside_the_revision_are_404_method_not_found(
    endpoints: dict[str, str], admin_token: str, method: str
) -> None:
    body = request(method)
    response = post(endpoints["server"], body, routing_headers(body, admin_token))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == -32601


def test_a_streamed_call_relays_progress_then_the_result(endpoints: dict[str, str], admin_token: str) -> None:
    body = request("tools/call", {"name": "modern__progress", "arguments": {"steps": 2}}, id_=7)
    body["params"]["_meta"]["progressToken"] = "p1"
    response = post(endpoints["server"], body, routing_headers(body, admin_token))
    assert response.headers["content-type"].startswith("text/event-stream")
    messages = [orjson.loads(data) for data in sse.iter_data(response.content)]
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [m["params"]["progressToken"] for m in progress] == ["p1", "p1"]
    assert messages[-1]["id"] == 7
    assert messages[-1]["result"]["resultType"] == "complete"


def test_an_upstream_request_to_the_client_is_refused_not_left_waiting(
    endpoints: dict[str, str], admin_token: str
) -> None:
    body = request("tools/call", {"name": "modern__sample", "arguments": {"prompt": "hi"}})
    response = httpx.post(
        endpoints["server"],
        content=orjson.dumps(body),
        headers={**routing_headers(body, admin_token), "content-type": "application/json"},
        timeout=30,
    )
    messages = (
        [orjson.loads(d) for d in sse.iter_data(response.content)]
        if response.headers["content-type"].startswith("text/event-stream")
        else [response.json()]
    )
    assert all(m.get("method") != "sampling/createMessage" for m in messages)
    final = messages[-1]
    assert "error" in final or final["result"]["isError"] is True


def test_a_notification_is_accepted_with_202(endpoints: dict[str, str], admin_token: str) -> None:
    body = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}
    response = post(endpoints["server"], body, routing_headers(body, admin_token))
    assert response.status_code == 202


def test_get_and_delete_are_405_for_stateless_clients(endpoints: dict[str, str], admin_token: str) -> None:
    headers = {"authorization": f"Bearer {admin_token}", "mcp-protocol-version": MODERN}
    for method in ("GET", "DELETE"):
        response = httpx.request(method, endpoints["server"], headers=headers)
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"


def test_a_request_without_a_token_is_still_401(endpoints: dict[str, str]) -> None:
    body = request("tools/list")
    headers = _without(routing_headers(body, "x"), "authorization")
    assert post(endpoints["server"], body, headers).status_code == 401


# -- subscriptions/listen --------------------------------------------------------


def test_listen_acknowledges_then_carries_list_changed(
    endpoints: dict[str, str], admin: httpx.Client, admin_token: str
) -> None:
    body = request("subscriptions/listen", {"notifications": {"toolsListChanged": True}}, id_="listen-1")
    body["params"]["notifications"]["resourceSubscriptions"] = ["fixture://static"]
    headers = {**routing_headers(body, admin_token), "content-type": "application/json"}
    with httpx.stream(
        "POST", endpoints["all"], content=orjson.dumps(body), headers=headers, timeout=20
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        decoder = sse.Decoder()
        received: list[dict] = []
        chunks = stream.iter_bytes()
        while not received:
            received += [orjson.loads(e.data) for e in decoder.feed(next(chunks))]
        ack = received.pop(0)
        assert ack["method"] == "notifications/subscriptions/acknowledged"
        assert ack["params"]["notifications"] == {"toolsListChanged": True}
        assert ack["params"]["_meta"][SUBSCRIPTION_ID] == "listen-1"
        with start_upstream(name="announced") as newcomer:
            register(admin, "announced", newcomer.url)
            while not any(m.get("method") == "notifications/tools/list_changed" for m in received):
                received += [orjson.loads(e.data) for e in decoder.feed(next(chunks))]
    methods = {m["method"] for m in received}
    assert methods == {"notifications/tools/list_changed"}
    assert all(m["params"]["_meta"][SUBSCRIPTION_ID] == "listen-1" for m in received)


def test_listen_needs_an_event_stream_accept(endpoints: dict[str, str], admin_token: str) -> None:
    body = request("subscriptions/listen", {"notifications": {"toolsListChanged": True}})
    headers = {**routing_headers(body, admin_token), "accept": "application/json"}
    assert post(endpoints["server"], body, headers).status_code == 406
