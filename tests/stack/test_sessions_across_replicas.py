"""Sessions that survive any replica: with two mcp-proxy replicas sharing Redis, a
session opened on one is served by the other, an upstream's elicitation sent through
one is answered through the other, a streamed reply cut off on one is resumed with
`Last-Event-ID` on the other, and a session deleted on one is gone on both."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import httpx
import httpx2
import orjson
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client
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
    with start_upstream(name="shared") as running:
        yield running


@pytest.fixture(scope="module")
def server_id(stack: StackProcess, token: str, upstream: UpstreamProcess) -> str:
    with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        register(admin, "shared", upstream.url)
        return create_server(
            admin, "shared", ["shared__echo", "shared__elicit", "shared__progress"], bare_names=True
        )


def _initialize(base: str, server_id: str, token: str, capabilities: dict | None = None) -> str:
    body = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": VERSION,
            "capabilities": capabilities or {},
            "clientInfo": {"name": "t"},
        },
    }
    response = httpx.post(
        f"{base}/servers/{server_id}/mcp", content=orjson.dumps(body), headers=session_headers(token)
    )
    assert response.status_code == 200, response.text
    session_id = response.headers["mcp-session-id"]
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    done = httpx.post(
        f"{base}/servers/{server_id}/mcp",
        content=orjson.dumps(initialized),
        headers=session_headers(token, session_id),
    )
    assert done.status_code == 202
    return session_id


def _call(base: str, server_id: str, token: str, session_id: str, id_: int, text: str) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": id_,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": text}},
    }
    return httpx.post(
        f"{base}/servers/{server_id}/mcp",
        content=orjson.dumps(body),
        headers=session_headers(token, session_id),
        timeout=30,
    )


def test_a_session_opened_on_one_replica_is_served_by_every_other(
    stack: StackProcess, server_id: str, token: str
) -> None:
    first, second = stack.replica_urls("mcp-proxy")
    session_id = _initialize(first, server_id, token)
    for id_, base in enumerate([second, first, second, stack.url, stack.url, stack.url], start=1):
        response = _call(base, server_id, token, session_id, id_, f"hop {id_}")
        assert response.status_code == 200, (base, response.text)
        assert response.json()["result"]["content"][0]["text"] == f"hop {id_}"


def test_a_session_deleted_on_one_replica_is_gone_on_the_other_within_a_second(
    stack: StackProcess, server_id: str, token: str
) -> None:
    first, second = stack.replica_urls("mcp-proxy")
    session_id = _initialize(first, server_id, token)
    assert _call(second, server_id, token, session_id, 1, "known").status_code == 200
    deleted = httpx.delete(f"{first}/servers/{server_id}/mcp", headers=session_headers(token, session_id))
    assert deleted.status_code == 204
    deadline = time.monotonic() + 1.0
    while _call(second, server_id, token, session_id, 2, "gone?").status_code != 404:
        assert time.monotonic() < deadline, "the other replica still serves a deleted session"
        time.sleep(0.02)


def test_an_elicitation_is_answered_through_the_other_replica(
    stack: StackProcess, server_id: str, token: str
) -> None:
    asking, answering = stack.replica_urls("mcp-proxy")
    session_id = _initialize(asking, server_id, token, {"elicitation": {}})
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "elicit", "arguments": {"question": "Name?"}},
    }
    events: list[dict] = []
    with httpx.stream(
        "POST",
        f"{asking}/servers/{server_id}/mcp",
        content=orjson.dumps(body),
        headers=session_headers(token, session_id),
        timeout=30,
    ) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if not line.startswith("data:") or not line[5:].strip():
                continue
            message = orjson.loads(line[5:])
            events.append(message)
            if message.get("method") == "elicitation/create":
                answer = {
                    "jsonrpc": "2.0",
                    "id": message["id"],
                    "result": {"action": "accept", "content": {"name": "Ada"}},
                }
                relayed = httpx.post(
                    f"{answering}/servers/{server_id}/mcp",
                    content=orjson.dumps(answer),
                    headers=session_headers(token, session_id),
                )
                assert relayed.status_code == 202
            elif message.get("id") == 7:
                break
    assert events[-1]["result"]["content"][0]["text"] == "accept: Ada"


async def test_an_sdk_client_through_nginx_answers_elicitations_whichever_replica_gets_them(
    stack: StackProcess, server_id: str, token: str
) -> None:
    async def elicitation(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Grace"})

    async with httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30) as http:
        async with Client(
            streamable_http_client(f"{stack.url}/servers/{server_id}/mcp", http_client=http),
            mode="legacy",
            elicitation_callback=elicitation,
        ) as client:
            for _ in range(4):
                result = await client.call_tool("elicit", {"question": "Name?"})
                assert result.content[0].text == "accept: Grace"


def _sse_events(lines) -> Iterator[tuple[str | None, dict | None]]:
    """(event id, message) per SSE event; message None for an event without data."""
    event_id, data = None, ""
    for line in lines:
        if line == "":
            if event_id is not None or data:
                yield event_id, (orjson.loads(data) if data.strip() else None)
            event_id, data = None, ""
        elif line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()


def test_a_reply_cut_off_on_one_replica_is_resumed_on_the_other(
    stack: StackProcess, server_id: str, token: str
) -> None:
    writing, resuming = stack.replica_urls("mcp-proxy")
    session_id = _initialize(writing, server_id, token)
    body = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "tools/call",
        "params": {
            "name": "progress",
            "arguments": {"steps": 6, "delay": 0.3},
            "_meta": {"progressToken": "p"},
        },
    }
    seen: list[dict] = []
    last_id = None
    with httpx.stream(
        "POST",
        f"{writing}/servers/{server_id}/mcp",
        content=orjson.dumps(body),
        headers=session_headers(token, session_id),
        timeout=30,
    ) as stream:
        for event_id, message in _sse_events(stream.iter_lines()):
            last_id = event_id or last_id
            if message is not None:
                seen.append(message)
            if sum(m.get("method") == "notifications/progress" for m in seen) == 2:
                break  # the client goes away mid-reply
    assert last_id is not None and all("method" in m for m in seen), "no answer yet"

    rest: list[dict] = []
    headers = {**session_headers(token, session_id), "accept": "text/event-stream", "last-event-id": last_id}
    with httpx.stream("GET", f"{resuming}/servers/{server_id}/mcp", headers=headers, timeout=30) as stream:
        assert stream.status_code == 200
        for _, message in _sse_events(stream.iter_lines()):
            if message is not None:
                rest.append(message)
            if message is not None and message.get("id") == 9:
                break
    progress = [m["params"]["progress"] for m in seen + rest if m.get("method") == "notifications/progress"]
    assert progress == [1, 2, 3, 4, 5, 6], "every event once, none replayed twice"
    assert rest[-1]["result"]["content"][0]["text"] == "did 6 steps"


def test_a_resource_update_heard_on_one_replica_reaches_the_get_stream_on_the_other(
    stack: StackProcess, token: str, upstream: UpstreamProcess
) -> None:
    with httpx.Client(base_url=stack.url, headers={"authorization": f"Bearer {token}"}, timeout=30) as admin:
        created = admin.post(
            "/servers", json={"name": "shared-all", "gateways": ["shared"], "naming": {"mode": "bare"}}
        )
        assert created.status_code == 201, created.text
        whole = created.json()["id"]
    streaming, subscribing = stack.replica_urls("mcp-proxy")
    session_id = _initialize(streaming, whole, token)
    heard: queue.Queue = queue.Queue()

    def follow() -> None:
        headers = {**session_headers(token, session_id), "accept": "text/event-stream"}
        with httpx.stream("GET", f"{streaming}/servers/{whole}/mcp", headers=headers, timeout=30) as stream:
            for _, message in _sse_events(stream.iter_lines()):
                if message is not None:
                    heard.put(message)
                    if message.get("method") == "notifications/resources/updated":
                        return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    subscribe = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "resources/subscribe",
        "params": {"uri": "fixture://static"},
    }
    url = f"{subscribing}/servers/{whole}/mcp"
    assert (
        httpx.post(
            url, content=orjson.dumps(subscribe), headers=session_headers(token, session_id)
        ).status_code
        == 200
    )
    touch = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "touch", "arguments": {"uri": "fixture://static"}},
    }
    deadline = time.monotonic() + 10
    update = None
    while update is None:
        assert time.monotonic() < deadline, "the update never reached the GET stream"
        httpx.post(url, content=orjson.dumps(touch), headers=session_headers(token, session_id))
        try:
            while update is None:
                message = heard.get(timeout=0.5)
                if message.get("method") == "notifications/resources/updated":
                    update = message
        except queue.Empty:
            continue
    assert update["params"]["uri"] == "fixture://static"
    follower.join(timeout=5)
