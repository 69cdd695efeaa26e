"""The MCP data path on `GET /internal/metrics`: call durations by server, name and
outcome, upstream health and errors, open sessions and streams, the metrics buffer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import orjson
import pytest
from mcp_types import CLIENT_CAPABILITIES_META_KEY, CLIENT_INFO_META_KEY, PROTOCOL_VERSION_META_KEY
from prometheus_client.parser import text_string_to_metric_families
from switchboard_testing.admin_api import create_server, register
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.mcp_http import McpHttp
from switchboard_testing.readiness import eventually
from switchboard_testing.upstream_process import start_upstream

HEALTH = {
    "SWITCHBOARD_HEALTH_INTERVAL_S": "0.3",
    "SWITCHBOARD_HEALTH_TIMEOUT_S": "0.5",
    "SWITCHBOARD_HEALTH_FAILURES": "2",
}
CALLS = "switchboard_mcp_call_duration_seconds_count"


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    with start_gateway(HEALTH) as process:
        yield process


def _scrape(gateway: GatewayProcess) -> dict[tuple[str, frozenset], float]:
    """Every sample of the gateway's exposition, by name and labels."""
    response = httpx.get(f"{gateway.base_url}/internal/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: dict, metric: str, **labels: str) -> float | None:
    return samples.get((metric, frozenset(labels.items())))


def _calls(samples: dict, method: str, server: str, name: str, outcome: str) -> float:
    labels = {"method": method, "server": server, "name": name, "outcome": outcome}
    return samples.get((CALLS, frozenset(labels.items())), 0.0)


def test_calls_are_recorded_by_method_server_name_and_outcome(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str
) -> None:
    with start_upstream(name="counted") as upstream:
        gateway_id = register(admin, "counted", upstream.url)["id"]
        server_id = create_server(admin, "counted-server", ["counted__echo", "counted__fail"])
        client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token)
        client.initialize()
        everywhere = McpHttp(f"{gateway.base_url}/mcp", admin_token)
        everywhere.initialize()

        assert client.call_tool("counted__echo", {"text": "hi"})["result"]["content"][0]["text"] == "hi"
        assert client.call_tool("counted__echo", {"text": "again"})["result"]
        assert client.call_tool("counted__fail", {"message": "no"})["result"]["isError"] is True
        assert everywhere.call_tool("counted__echo", {"text": "all"})["result"]
        assert everywhere.request("prompts/get", {"name": "counted__greet", "arguments": {"name": "x"}})[
            "result"
        ]
        assert everywhere.request("resources/read", {"uri": "fixture://static"})["result"]

        samples = _scrape(gateway)
        assert _calls(samples, "tools/call", server_id, "counted__echo", "ok") == 2
        assert _calls(samples, "tools/call", server_id, "counted__fail", "tool_error") == 1
        assert _calls(samples, "tools/call", "all", "counted__echo", "ok") == 1
        assert _calls(samples, "prompts/get", "all", "counted__greet", "ok") == 1
        assert _calls(samples, "resources/read", "all", "fixture://static", "ok") == 1
        assert _value(samples, "switchboard_upstream_up", upstream=gateway_id, upstream_name="counted") in (
            None,  # not checked yet
            1.0,
        )
        # Two sessions this test opened, at least (others' may be open too).
        assert _value(samples, "switchboard_mcp_sessions_open") >= 2
        assert _value(samples, "switchboard_metrics_buffer_pending_records") is not None
        assert _value(samples, "switchboard_metrics_buffer_dropped_records_total") == 0


def test_a_stopped_upstream_reads_down_and_its_calls_unavailable(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str
) -> None:
    with contextlib.ExitStack() as stack:
        flaky = stack.enter_context(start_upstream(name="stopped"))
        gateway_id = register(admin, "stopped", flaky.url)["id"]
        server_id = create_server(admin, "stopped-server", ["stopped__echo"])
        client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token)
        client.initialize()
        eventually(
            lambda: (
                _value(
                    _scrape(gateway), "switchboard_upstream_up", upstream=gateway_id, upstream_name="stopped"
                )
                == 1.0
            ),
            timeout_s=10,
            what="the health checker sees the upstream up",
        )

        flaky.kill()
        eventually(
            lambda: (
                _value(
                    _scrape(gateway), "switchboard_upstream_up", upstream=gateway_id, upstream_name="stopped"
                )
                == 0.0
            ),
            timeout_s=10,
            what="the health checker sees the upstream down",
        )
        answer = client.call_tool("stopped__echo", {"text": "hi"})

        assert answer["error"]["code"] == -32011
        assert _calls(_scrape(gateway), "tools/call", server_id, "stopped__echo", "unavailable") == 1

        admin.delete(f"/gateways/{gateway_id}").raise_for_status()
        eventually(
            lambda: (
                _value(
                    _scrape(gateway), "switchboard_upstream_up", upstream=gateway_id, upstream_name="stopped"
                )
                is None
            ),
            timeout_s=10,
            what="a deleted gateway's series goes",
        )


def test_an_open_get_stream_is_counted_while_it_stays_open(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str
) -> None:
    client = McpHttp(f"{gateway.base_url}/mcp", admin_token)
    client.initialize()
    before = _value(_scrape(gateway), "switchboard_mcp_streams_open", kind="get") or 0.0

    headers = client.headers(accept="text/event-stream")
    with httpx.stream("GET", client.url, headers=headers, timeout=30) as stream:
        assert stream.status_code == 200
        eventually(
            lambda: _value(_scrape(gateway), "switchboard_mcp_streams_open", kind="get") == before + 1,
            timeout_s=10,
            what="the open GET stream is counted",
        )

    eventually(
        lambda: _value(_scrape(gateway), "switchboard_mcp_streams_open", kind="get") == before,
        timeout_s=10,
        what="the closed GET stream is no longer counted",
    )


def test_an_open_legacy_sse_stream_and_its_session_are_counted_until_it_closes(
    gateway: GatewayProcess, admin_token: str
) -> None:
    def open_now() -> tuple[float, float]:
        samples = _scrape(gateway)
        return (
            _value(samples, "switchboard_mcp_streams_open", kind="legacy_sse") or 0.0,
            _value(samples, "switchboard_mcp_sessions_open") or 0.0,
        )

    streams, sessions = open_now()
    headers = {"authorization": f"Bearer {admin_token}", "accept": "text/event-stream"}
    with httpx.stream("GET", f"{gateway.base_url}/sse", headers=headers, timeout=30) as stream:
        assert stream.status_code == 200
        eventually(
            lambda: open_now() == (streams + 1, sessions + 1),
            timeout_s=10,
            what="the open /sse stream and its session are counted",
        )

    eventually(
        lambda: open_now() == (streams, sessions),
        timeout_s=10,
        what="the closed /sse stream and its ended session are no longer counted",
    )


def test_a_post_answered_as_a_stream_is_counted_while_it_streams(
    gateway: GatewayProcess, admin: httpx.Client, admin_token: str
) -> None:
    def streams() -> float:
        return _value(_scrape(gateway), "switchboard_mcp_streams_open", kind="post") or 0.0

    with start_upstream(name="streamer") as upstream:
        register(admin, "streamer", upstream.url)
        server_id = create_server(admin, "streamer-server", ["streamer__progress"])
        client = McpHttp(f"{gateway.base_url}/servers/{server_id}/mcp", admin_token)
        client.initialize()
        before = streams()
        call = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "streamer__progress", "arguments": {"steps": 3, "delay": 1.0}},
        }
        with httpx.stream("POST", client.url, json=call, headers=client.headers(), timeout=30) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines()
            next(line for line in lines if line.startswith("data:") and "notifications/message" in line)
            assert streams() == before + 1
            assert any('"id":7' in line for line in lines)

        eventually(lambda: streams() == before, timeout_s=10, what="the finished stream is no longer counted")


def test_an_open_listen_stream_of_a_stateless_client_is_counted_until_it_closes(
    gateway: GatewayProcess, admin_token: str
) -> None:
    def streams() -> float:
        return _value(_scrape(gateway), "switchboard_mcp_streams_open", kind="listen") or 0.0

    envelope = {
        PROTOCOL_VERSION_META_KEY: "2026-07-28",
        CLIENT_INFO_META_KEY: {"name": "metrics-test", "version": "1"},
        CLIENT_CAPABILITIES_META_KEY: {},
    }
    body = {
        "jsonrpc": "2.0",
        "id": "listen-1",
        "method": "subscriptions/listen",
        "params": {"notifications": {"toolsListChanged": True}, "_meta": envelope},
    }
    headers = {
        "authorization": f"Bearer {admin_token}",
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "subscriptions/listen",
    }
    before = streams()
    url = f"{gateway.base_url}/mcp"
    with httpx.stream("POST", url, content=orjson.dumps(body), headers=headers, timeout=20) as stream:
        assert stream.status_code == 200
        chunks = stream.iter_bytes()  # kept: a dropped iterator closes the response
        next(chunks)  # the acknowledgement: the stream is open
        eventually(lambda: streams() == before + 1, timeout_s=10, what="the open listen stream is counted")

    eventually(
        lambda: streams() == before, timeout_s=10, what="the closed listen stream is no longer counted"
    )
