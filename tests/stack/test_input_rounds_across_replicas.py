"""Stateless (2026-07-28) `input_required` rounds with two mcp-proxy replicas and no
stickiness: a call parked on one replica is resumed by a retry reaching the other (its
messages relayed back), round after round, while a state from another user, for another
call, forged, or naming a replica that does not exist is refused as an unknown one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import httpx2
import orjson
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY
from switchboard_mcp import sse
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

MODERN = "2026-07-28"
ASKING = {"sampling": {}, "elicitation": {"form": {}}}
OTHER_EMAIL, OTHER_PASSWORD = "rounds-other@example.com", "a long passphrase"


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"proxy_replicas": 2}


@pytest.fixture(scope="module")
def token(stack: StackProcess) -> str:
    return stack.login()


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="asker") as running:
        yield running


@pytest.fixture(scope="module")
def server_id(stack: StackProcess, token: str, upstream: UpstreamProcess) -> str:
    with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        register(admin, "asker", upstream.url, visibility="public")
        return create_server(
            admin,
            "asker",
            ["asker__sample", "asker__interview", "asker__echo"],
            bare_names=True,
            visibility="public",
        )


def _body(tool: str, arguments: dict, *, id_: int = 1, **params) -> dict:
    envelope = {
        PROTOCOL_VERSION_META_KEY: MODERN,
        CLIENT_INFO_META_KEY: {"name": "raw-test", "version": "1"},
        CLIENT_CAPABILITIES_META_KEY: ASKING,
    }
    return {
        "jsonrpc": "2.0",
        "id": id_,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments, **params, "_meta": envelope},
    }


def _post(base: str, server_id: str, token: str, body: dict) -> tuple[int, list[dict]]:
    headers = {
        "authorization": f"Bearer {token}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": MODERN,
        "mcp-method": body["method"],
        "mcp-name": body["params"]["name"],
    }
    response = httpx.post(
        f"{base}/servers/{server_id}/mcp", content=orjson.dumps(body), headers=headers, timeout=30
    )
    if response.headers["content-type"].startswith("text/event-stream"):
        return response.status_code, [orjson.loads(d) for d in sse.iter_data(response.content)]
    return response.status_code, [response.json()]


def _round(base: str, server_id: str, token: str, body: dict) -> dict:
    """One POST of a call that ends in a result: that result."""
    status, messages = _post(base, server_id, token, body)
    assert status == 200, messages
    assert messages[-1]["id"] == body["id"], messages
    return messages[-1]["result"]


def _model_says(text: str) -> dict:
    return {"role": "assistant", "content": {"type": "text", "text": text}, "model": "m"}


@pytest.mark.parametrize("order", ["first-then-second", "second-then-first"])
def test_a_retry_reaching_the_other_replica_resumes_the_call_parked_on_the_first(
    stack: StackProcess, server_id: str, token: str, order: str
) -> None:
    asking, retrying = stack.replica_urls("mcp-proxy")[:: 1 if order == "first-then-second" else -1]
    asked = _round(asking, server_id, token, _body("sample", {"prompt": "hi"}))
    assert asked["resultType"] == "input_required"
    [key] = asked["inputRequests"]
    retry = _body(
        "sample",
        {"prompt": "hi"},
        id_=2,
        inputResponses={key: _model_says("hello from afar")},
        requestState=asked["requestState"],
    )
    done = _round(retrying, server_id, token, retry)
    assert done["resultType"] == "complete"
    assert done["content"][0]["text"] == "hello from afar"


def test_nested_rounds_go_on_whichever_replica_each_retry_reaches(
    stack: StackProcess, server_id: str, token: str
) -> None:
    first, second = stack.replica_urls("mcp-proxy")
    arguments = {"topic": "tea"}
    asked = _round(first, server_id, token, _body("interview", arguments))
    answers = {}
    for id_, base in enumerate([second, first, second], start=2):
        if asked["resultType"] == "complete":
            break
        for key, request in asked["inputRequests"].items():
            if request["method"] == "elicitation/create":
                answers[key] = {"action": "accept", "content": {"name": "Ada"}}
            else:
                answers[key] = _model_says("model on tea")
        retry = _body(
            "interview", arguments, id_=id_, inputResponses=answers, requestState=asked["requestState"]
        )
        asked = _round(base, server_id, token, retry)
    assert asked["resultType"] == "complete", asked
    assert asked["content"][0]["text"] == "Ada on tea: model on tea"


def test_a_retry_lacking_an_answer_is_refused_through_the_other_replica_and_can_be_made_again(
    stack: StackProcess, server_id: str, token: str
) -> None:
    first, second = stack.replica_urls("mcp-proxy")
    asked = _round(first, server_id, token, _body("sample", {"prompt": "hi"}))
    [key] = asked["inputRequests"]
    state = asked["requestState"]
    status, messages = _post(
        second, server_id, token, _body("sample", {"prompt": "hi"}, inputResponses={}, requestState=state)
    )
    assert status == 400 and messages[0]["error"]["code"] == -32602
    assert key in messages[0]["error"]["message"]
    retry = _body(
        "sample", {"prompt": "hi"}, inputResponses={key: _model_says("second try")}, requestState=state
    )
    assert _round(second, server_id, token, retry)["content"][0]["text"] == "second try"


def test_a_state_of_another_user_call_or_replica_is_refused_on_either_replica(
    stack: StackProcess, server_id: str, token: str
) -> None:
    first, second = stack.replica_urls("mcp-proxy")
    with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        created = admin.post("/auth/users", json={"email": OTHER_EMAIL, "password": OTHER_PASSWORD})
        assert created.status_code == 201, created.text
    other_user = stack.login(OTHER_EMAIL, OTHER_PASSWORD)
    asked = _round(first, server_id, token, _body("sample", {"prompt": "hi"}))
    [key] = asked["inputRequests"]
    state = asked["requestState"]
    prefix, replica, secret = state.split(".")
    answers = {key: _model_says("x")}

    def retry(base: str, who: str, tool: str, tried: str) -> tuple[int, list[dict]]:
        arguments = {"prompt": "hi"} if tool == "sample" else {"text": "hi"}
        return _post(base, server_id, who, _body(tool, arguments, inputResponses=answers, requestState=tried))

    for base, who, tool, tried in [
        (second, other_user, "sample", state),
        (first, other_user, "sample", state),
        (second, token, "echo", state),
        (second, token, "sample", state + "x"),
        (second, token, "sample", f"{prefix}.{'0' * len(replica)}.{secret}"),  # no such replica
        (second, token, "sample", f"{prefix}.{secret}"),  # names none: unknown where it lands
    ]:
        status, messages = retry(base, who, tool, tried)
        assert status == 400, (base, tool, tried, messages)
        assert "requestState" in messages[0]["error"]["message"]
    status, messages = retry(second, token, "sample", state)
    assert messages[-1]["result"]["content"][0]["text"] == "x"


async def test_an_sdk_client_through_nginx_answers_rounds_whichever_replica_gets_each_retry(
    stack: StackProcess, server_id: str, token: str
) -> None:
    served_by: list[str] = []

    async def note_replica(response) -> None:
        served_by.append(response.headers.get("x-upstream", ""))

    async def sampling(context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"model on {params.messages[0].content.text}"),
            model="test-model",
        )

    async def elicitation(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async with httpx2.AsyncClient(
        headers={"authorization": f"Bearer {token}"}, timeout=30, event_hooks={"response": [note_replica]}
    ) as http:
        async with Client(
            streamable_http_client(f"{stack.url}/servers/{server_id}/mcp", http_client=http),
            mode=MODERN,
            sampling_callback=sampling,
            elicitation_callback=elicitation,
        ) as client:
            for _ in range(3):
                result = await client.call_tool("interview", {"topic": "tea"})
                assert not result.is_error, result
                assert result.content[0].text == "Ada on tea: model on tea"
    assert set(served_by) >= set(stack.replica_addresses("mcp-proxy"))
