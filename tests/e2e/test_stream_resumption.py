"""A client that loses a stream resumes it with `Last-Event-ID` and gets exactly the
events it missed, from that stream only."""

from __future__ import annotations

import httpx
import orjson
import pytest
from switchboard_mcp import sse
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


@pytest.fixture(scope="module")
def endpoint(gateway: GatewayProcess, admin: httpx.Client, fixture_upstream: UpstreamProcess) -> str:
    register(admin, "resume", fixture_upstream.url)
    server = create_server(admin, "resume", ["resume__progress", "resume__echo"], bare_names=True)
    return f"{gateway.base_url}/servers/{server}/mcp"


def _read_events(response: httpx.Response, until) -> list[sse.Event]:
    decoder, seen = sse.Decoder(), []
    for chunk in response.iter_bytes():
        for event in decoder.feed(chunk):
            seen.append(event)
            if until(seen):
                return seen
    return seen


def _messages(events: list[sse.Event]) -> list[dict]:
    return [orjson.loads(e.data) for e in events if e.data]


def test_a_dropped_reply_stream_resumes_where_it_left_off(endpoint: str, admin_token: str) -> None:
    client = McpHttp(endpoint, admin_token)
    client.initialize()
    call = {
        "jsonrpc": "2.0",
        "id": "long-1",
        "method": "tools/call",
        "params": {
            "name": "progress",
            "arguments": {"steps": 4, "delay": 0.3},
            "_meta": {"progressToken": "t"},
        },
    }
    with httpx.stream("POST", endpoint, json=call, headers=client.headers(), timeout=30) as first:
        assert first.headers["content-type"].startswith("text/event-stream")
        seen = _read_events(first, lambda events: len(_messages(events)) >= 2)
    # The connection is gone after two messages; the call goes on at the upstream.
    last_id = [e.id for e in seen if e.data][-1]
    assert last_id is not None and last_id.startswith("r")
    before = _messages(seen)

    with httpx.stream(
        "GET", endpoint, headers=client.headers(**{"last-event-id": last_id}), timeout=30
    ) as resumed:
        after = _messages(
            _read_events(resumed, lambda events: any(m.get("id") == "long-1" for m in _messages(events)))
        )

    progress = [
        m["params"]["progress"] for m in before + after if m.get("method") == "notifications/progress"
    ]
    assert progress == [1, 2, 3, 4], "each progress event exactly once across both streams"
    assert after[-1]["id"] == "long-1"
    assert after[-1]["result"]["content"][0]["text"] == "did 4 steps"


def test_a_resumed_get_stream_replays_only_what_was_missed(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str, endpoint: str
) -> None:
    client = McpHttp(endpoint, admin_token)
    client.initialize()

    def list_changed(events: list[sse.Event]) -> bool:
        return any(m.get("method") == "notifications/tools/list_changed" for m in _messages(events))

    with start_upstream(name="late-a") as a, start_upstream(name="late-b") as b:
        with httpx.stream("GET", endpoint, headers=client.headers(), timeout=30) as stream:
            register(admin, "late-a", a.url)
            seen = _read_events(stream, list_changed)
        last_id = [e.id for e in seen if e.data][-1]
        assert last_id.startswith("g:")
        # Missed while disconnected:
        register(admin, "late-b", b.url)
        with httpx.stream(
            "GET", endpoint, headers=client.headers(**{"last-event-id": last_id}), timeout=30
        ) as again:
            replay = _read_events(again, list_changed)
    ids = [e.id for e in replay if e.data]
    assert ids and all(int(i.split(":")[1]) > int(last_id.split(":")[1]) for i in ids)


def test_an_unknown_event_id_opens_a_fresh_stream(endpoint: str, admin_token: str) -> None:
    client = McpHttp(endpoint, admin_token)
    client.initialize()
    with httpx.stream(
        "GET", endpoint, headers=client.headers(**{"last-event-id": "r999:3"}), timeout=5
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
