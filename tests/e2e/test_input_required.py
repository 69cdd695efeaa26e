"""Multi-round-trip calls (`input_required`, 2026-07-28) through the gateway, in every
pairing of eras: a stateless client with a session-era upstream (whose mid-call
requests become `input_required` rounds), with a 2026-only upstream (whose rounds are
carried through), and a session-era client with a 2026-only upstream (whose rounds
become requests on the client's stream). Also the `Mcp-Param-*` headers and the
per-request log level of the revision."""

from __future__ import annotations

import httpx
import httpx2
import orjson
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY
from switchboard_mcp import sse
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.upstream_process import UpstreamProcess

MODERN = "2026-07-28"
TOOLS = ["interview", "route", "progress", "sample"]
ASKING = {"sampling": {}, "elicitation": {"form": {}}}


@pytest.fixture(scope="module")
def servers(
    gateway: GatewayProcess,
    admin: httpx.Client,
    fixture_upstream: UpstreamProcess,
    modern_upstream: UpstreamProcess,
) -> dict[str, str]:
    """A server per upstream era, each exposing the fixture's tools under bare names."""
    register(admin, "sessioned", fixture_upstream.url, visibility="public")
    register(admin, "stateless", modern_upstream.url, visibility="public")
    urls = {}
    for gateway_name in ("sessioned", "stateless"):
        server = create_server(
            admin,
            f"ask-{gateway_name}",
            [f"{gateway_name}__{t}" for t in TOOLS],
            bare_names=True,
            visibility="public",
        )
        urls[gateway_name] = f"{gateway.base_url}/servers/{server}/mcp"
    return urls


async def _sampling(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"model on {params.messages[0].content.text}"),
        model="test-model",
    )


async def _elicitation(context, params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"name": "Ada"})


async def _interview(url: str, token: str, mode: str) -> str:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            sampling_callback=_sampling,
            elicitation_callback=_elicitation,
        ) as client:
            result = await client.call_tool("interview", {"topic": "tea"})
    assert not result.is_error, result
    return result.content[0].text


@pytest.mark.parametrize("upstream_era", ["sessioned", "stateless"])
async def test_a_stateless_client_answers_input_required_rounds(
    servers: dict[str, str], admin_token: str, upstream_era: str
) -> None:
    assert await _interview(servers[upstream_era], admin_token, MODERN) == "Ada on tea: model on tea"


async def test_a_session_client_answers_a_stateless_upstreams_input_requests(
    servers: dict[str, str], admin_token: str
) -> None:
    assert await _interview(servers["stateless"], admin_token, "legacy") == "Ada on tea: model on tea"


# -- the wire, by hand ------------------------------------------------------------


def _body(
    method: str, params: dict, *, id_: int = 1, capabilities: dict | None = None, meta: dict | None = None
):
    envelope = {
        PROTOCOL_VERSION_META_KEY: MODERN,
        CLIENT_INFO_META_KEY: {"name": "raw-test", "version": "1"},
        CLIENT_CAPABILITIES_META_KEY: ASKING if capabilities is None else capabilities,
        **(meta or {}),
    }
    return {"jsonrpc": "2.0", "id": id_, "method": method, "params": {**params, "_meta": envelope}}


def _post(url: str, token: str, body: dict, extra: dict | None = None) -> tuple[int, list[dict]]:
    headers = {
        "authorization": f"Bearer {token}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": MODERN,
        "mcp-method": body["method"],
        **(extra or {}),
    }
    if "name" in body["params"]:
        headers["mcp-name"] = body["params"]["name"]
    response = httpx.post(url, content=orjson.dumps(body), headers=headers, timeout=30)
    if response.headers["content-type"].startswith("text/event-stream"):
        return response.status_code, [orjson.loads(d) for d in sse.iter_data(response.content)]
    return response.status_code, [response.json()]


def _ask(url: str, token: str) -> dict:
    status, messages = _post(
        url, token, _body("tools/call", {"name": "sample", "arguments": {"prompt": "hi"}})
    )
    assert status == 200
    return messages[-1]["result"]


def test_an_upstream_request_becomes_an_input_required_result(
    servers: dict[str, str], admin_token: str
) -> None:
    result = _ask(servers["sessioned"], admin_token)
    assert result["resultType"] == "input_required"
    [(key, request)] = result["inputRequests"].items()
    assert request["method"] == "sampling/createMessage"
    assert request["params"]["messages"][0]["content"]["text"] == "hi"
    assert isinstance(result["requestState"], str) and "ttlMs" not in result

    answer = {"role": "assistant", "content": {"type": "text", "text": "hello"}, "model": "m"}
    retry = _body(
        "tools/call",
        {
            "name": "sample",
            "arguments": {"prompt": "hi"},
            "inputResponses": {key: answer},
            "requestState": result["requestState"],
        },
        id_=2,
    )
    status, messages = _post(servers["sessioned"], admin_token, retry)
    assert status == 200
    assert messages[-1]["id"] == 2
    assert messages[-1]["result"]["resultType"] == "complete"
    assert messages[-1]["result"]["content"][0]["text"] == "hello"


def test_a_retry_lacking_an_answer_is_refused_and_can_be_made_again(
    servers: dict[str, str], admin_token: str
) -> None:
    result = _ask(servers["sessioned"], admin_token)
    [key] = result["inputRequests"]
    params = {"name": "sample", "arguments": {"prompt": "hi"}, "requestState": result["requestState"]}
    status, messages = _post(
        servers["sessioned"], admin_token, _body("tools/call", {**params, "inputResponses": {}})
    )
    assert status == 400 and messages[0]["error"]["code"] == -32602
    assert key in messages[0]["error"]["message"]

    answer = {"role": "assistant", "content": {"type": "text", "text": "second try"}, "model": "m"}
    status, messages = _post(
        servers["sessioned"], admin_token, _body("tools/call", {**params, "inputResponses": {key: answer}})
    )
    assert messages[-1]["result"]["content"][0]["text"] == "second try"


def test_request_state_is_bound_to_its_caller_and_call(
    gateway: GatewayProcess, admin: httpx.Client, servers: dict[str, str], admin_token: str
) -> None:
    result = _ask(servers["sessioned"], admin_token)
    [key] = result["inputRequests"]
    answer = {key: {"role": "assistant", "content": {"type": "text", "text": "x"}, "model": "m"}}
    state = result["requestState"]

    def retry(token: str, url: str, tool: str, state: str) -> tuple[int, list[dict]]:
        params = {
            "name": tool,
            "arguments": {"prompt": "hi"},
            "inputResponses": answer,
            "requestState": state,
        }
        return _post(url, token, _body("tools/call", params))

    created = admin.post(
        "/auth/users", json={"email": "someone-else@example.com", "password": "a long passphrase"}
    )
    assert created.status_code == 201, created.text
    other_user = gateway.mint_token(email="someone-else@example.com")
    for token, url, tool, tried in [
        (other_user, servers["sessioned"], "sample", state),
        (admin_token, servers["stateless"], "sample", state),
        (admin_token, servers["sessioned"], "progress", state),
        (admin_token, servers["sessioned"], "sample", state + "x"),
    ]:
        status, messages = retry(token, url, tool, tried)
        assert status == 400, messages
        assert "requestState" in messages[0]["error"]["message"]
    status, messages = retry(admin_token, servers["sessioned"], "sample", state)
    assert messages[-1]["result"]["content"][0]["text"] == "x"


def test_a_client_declaring_nothing_is_never_asked(servers: dict[str, str], admin_token: str) -> None:
    body = _body("tools/call", {"name": "sample", "arguments": {"prompt": "hi"}}, capabilities={})
    _, messages = _post(servers["sessioned"], admin_token, body)
    final = messages[-1]
    assert final.get("result", {}).get("resultType") != "input_required"
    assert "error" in final or final["result"]["isError"] is True


# -- Mcp-Param-* headers ----------------------------------------------------------


@pytest.mark.parametrize("upstream_era", ["sessioned", "stateless"])
def test_mirrored_arguments_reach_the_upstream(
    servers: dict[str, str], admin_token: str, upstream_era: str
) -> None:
    body = _body(
        "tools/call", {"name": "route", "arguments": {"region": "eu-west", "payload": "p", "priority": 7}}
    )
    status, messages = _post(
        servers[upstream_era], admin_token, body, {"mcp-param-region": "eu-west", "mcp-param-priority": "7"}
    )
    assert status == 200, messages
    answered = messages[-1]["result"]["structuredContent"]
    assert answered["region"] == "eu-west" and answered["priority"] == 7
    if upstream_era == "stateless":  # a session-era upstream gets no mirror headers (nor needs them)
        assert answered["headers"] == {"mcp-param-region": "eu-west", "mcp-param-priority": "7"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"mcp-param-region": "us-east"}, {"mcp-param-region": "eu-west", "mcp-param-priority": "8"}],
    ids=["missing", "different", "wrong-integer"],
)
def test_a_header_disagreeing_with_its_argument_is_a_400_header_mismatch(
    servers: dict[str, str], admin_token: str, headers: dict[str, str]
) -> None:
    body = _body(
        "tools/call", {"name": "route", "arguments": {"region": "eu-west", "payload": "p", "priority": 7}}
    )
    if headers:
        headers.setdefault("mcp-param-priority", "7")
    status, messages = _post(servers["sessioned"], admin_token, body, headers)
    assert status == 400
    assert messages[0]["error"]["code"] == -32020


async def test_an_sdk_client_mirrors_the_headers_itself(servers: dict[str, str], admin_token: str) -> None:
    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        async with Client(
            streamable_http_client(servers["stateless"], http_client=http), mode=MODERN
        ) as client:
            await client.list_tools()
            result = await client.call_tool("route", {"region": "ap-south", "payload": "x"})
    assert result.structured_content["headers"]["mcp-param-region"] == "ap-south"


# -- per-request log level ------------------------------------------------------------


@pytest.mark.parametrize("upstream_era", ["sessioned", "stateless"])
def test_log_messages_come_only_at_the_level_asked(
    servers: dict[str, str], admin_token: str, upstream_era: str
) -> None:
    def logs(meta: dict | None) -> list[dict]:
        body = _body("tools/call", {"name": "progress", "arguments": {"steps": 1}}, meta=meta)
        _, messages = _post(servers[upstream_era], admin_token, body)
        assert messages[-1]["result"]["content"][0]["text"] == "did 1 steps"
        return [m for m in messages if m.get("method") == "notifications/message"]

    assert logs(None) == []
    assert logs({"io.modelcontextprotocol/logLevel": "error"}) == []
    [message] = logs({"io.modelcontextprotocol/logLevel": "info"})
    assert message["params"]["level"] == "info"
