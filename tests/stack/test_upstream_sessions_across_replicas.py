"""A stateful upstream sees a client as one client, whichever replica serves it: with two
mcp-proxy replicas behind nginx, a client declaring elicitation has one upstream
session that both replicas speak in (its per-session count goes 1, 2, 3, 4 across
them), elicitations asked during calls through either replica are answered, and the
client's DELETE ends that upstream session once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.mcp_http import session_headers
from switchboard_testing.stack import StackProcess
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream

VERSION = "2025-11-25"


@pytest.fixture(scope="module")
def stack_options() -> dict:
    return {"proxy_replicas": 2}


@pytest.fixture(scope="module")
def token(stack: StackProcess) -> str:
    return stack.login()


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="stateful") as running:
        yield running


@pytest.fixture(scope="module")
def server_id(stack: StackProcess, token: str, upstream: UpstreamProcess) -> str:
    with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        register(admin, "stateful", upstream.url)
        return create_server(
            admin, "stateful", ["stateful__session_counter", "stateful__elicit"], bare_names=True
        )


def _post(base: str, server_id: str, token: str, session_id: str | None, body: dict) -> httpx.Response:
    return httpx.post(
        f"{base}/servers/{server_id}/mcp",
        content=orjson.dumps(body),
        headers=session_headers(token, session_id),
        timeout=30,
    )


def _initialize(base: str, server_id: str, token: str) -> str:
    params = {"protocolVersion": VERSION, "capabilities": {"elicitation": {}}, "clientInfo": {"name": "t"}}
    response = _post(
        base, server_id, token, None, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}
    )
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert _post(base, server_id, token, session_id, initialized).status_code == 202
    return session_id


def _count(base: str, server_id: str, token: str, session_id: str, id_: int) -> tuple[str, int]:
    body = {"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": "session_counter"}}
    response = _post(base, server_id, token, session_id, body)
    assert response.status_code == 200, (base, response.text)
    upstream_session, count = response.json()["result"]["content"][0]["text"].split()
    return upstream_session, int(count)


def _elicit(asking: str, answering: str, server_id: str, token: str, session_id: str, id_: int) -> str:
    """Call `elicit` through `asking`, answer its question through `answering`; the tool's answer."""
    body = {
        "jsonrpc": "2.0",
        "id": id_,
        "method": "tools/call",
        "params": {"name": "elicit", "arguments": {"question": "Name?"}},
    }
    with httpx.stream(
        "POST",
        f"{asking}/servers/{server_id}/mcp",
        content=orjson.dumps(body),
        headers=session_headers(token, session_id),
        timeout=30,
    ) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:") or not line[5:].strip():
                continue
            message = orjson.loads(line[5:])
            if message.get("method") == "elicitation/create":
                answer = {
                    "jsonrpc": "2.0",
                    "id": message["id"],
                    "result": {"action": "accept", "content": {"name": f"via {id_}"}},
                }
                assert _post(answering, server_id, token, session_id, answer).status_code == 202
            elif message.get("id") == id_:
                return message["result"]["content"][0]["text"]
    raise AssertionError("the call ended without an answer")


def _ledger(upstream: UpstreamProcess) -> dict[str, dict[str, int]]:
    return httpx.get(f"{upstream.base_url}/sessions", timeout=10).json()


def test_a_client_on_both_replicas_is_one_session_to_a_stateful_upstream(
    stack: StackProcess, server_id: str, token: str, upstream: UpstreamProcess
) -> None:
    first, second = stack.replica_urls("mcp-proxy")
    session_id = _initialize(first, server_id, token)
    counted = [
        _count(base, server_id, token, session_id, id_)
        for id_, base in enumerate([second, first, second, first, stack.url, stack.url], start=1)
    ]
    assert len({upstream_session for upstream_session, _ in counted}) == 1, counted
    assert [count for _, count in counted] == [1, 2, 3, 4, 5, 6]
    upstream_session = counted[0][0]

    assert _elicit(first, second, server_id, token, session_id, 10) == "accept: via 10"
    assert _elicit(second, first, server_id, token, session_id, 11) == "accept: via 11"
    assert _elicit(second, second, server_id, token, session_id, 12) == "accept: via 12"
    assert _count(first, server_id, token, session_id, 13) == (upstream_session, 7)
    seen = _ledger(upstream)[upstream_session]
    assert seen["opened"] == 1 and seen["streams"] == 1, "initialized once, its GET stream followed once"

    deleted = httpx.delete(f"{second}/servers/{server_id}/mcp", headers=session_headers(token, session_id))
    assert deleted.status_code == 204
    deadline = time.monotonic() + 5.0
    while _ledger(upstream)[upstream_session]["deleted"] == 0:
        assert time.monotonic() < deadline, "the upstream session was not ended"
        time.sleep(0.05)
    body = {"jsonrpc": "2.0", "id": 14, "method": "ping"}
    while _post(first, server_id, token, session_id, body).status_code != 404:
        assert time.monotonic() < deadline, "the other replica still serves the deleted session"
        time.sleep(0.05)
    assert _ledger(upstream)[upstream_session]["deleted"] == 1, "ended once, not once per replica"
