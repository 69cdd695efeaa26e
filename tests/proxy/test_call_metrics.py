"""Call metrics: labels stay bounded past the cap, and each way an upstream fails gets its
outcome and error kind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import REGISTRY
from switchboard_core.errors import UpstreamError
from switchboard_mcp.upstream import UpstreamSession
from switchboard_proxy.call_metrics import CallMetrics, failure_of, outcome_of
from switchboard_testing.ports import free_port

DURATION = "switchboard_mcp_call_duration_seconds"


def _count(method: str, server: str, name: str, outcome: str) -> float:
    labels = {"method": method, "server": server, "name": name, "outcome": outcome}
    return REGISTRY.get_sample_value(f"{DURATION}_count", labels) or 0.0


def _names_of(server: str) -> set[str]:
    return {
        sample.labels["name"]
        for metric in REGISTRY.collect()
        if metric.name == DURATION
        for sample in metric.samples
        if sample.labels.get("server") == server
    }


def test_a_call_is_counted_under_its_method_server_name_and_outcome() -> None:
    calls = CallMetrics(cap=10)

    calls.observe("tools/call", "srv-labels", "echo", "ok", 0.003)
    calls.observe("tools/call", "srv-labels", "echo", "ok", 0.004)
    calls.observe("prompts/get", "srv-labels", "greet", "error", 0.01)

    assert _count("tools/call", "srv-labels", "echo", "ok") == 2
    assert _count("prompts/get", "srv-labels", "greet", "error") == 1
    bucket = {"method": "tools/call", "server": "srv-labels", "name": "echo", "outcome": "ok", "le": "0.005"}
    assert REGISTRY.get_sample_value(f"{DURATION}_bucket", bucket) == 2


def test_the_endpoint_serving_every_tool_is_labelled_all() -> None:
    calls = CallMetrics(cap=10)
    before = _count("tools/call", "all", "everywhere-echo", "ok")

    calls.observe("tools/call", "", "everywhere-echo", "ok", 0.001)

    assert _count("tools/call", "all", "everywhere-echo", "ok") == before + 1


def test_past_the_cap_names_fold_into_other_and_the_series_stay_bounded() -> None:
    calls = CallMetrics(cap=2)
    calls.observe("tools/call", "srv-cap", "first", "ok", 0.001)
    calls.observe("tools/call", "srv-cap", "second", "ok", 0.001)

    for i in range(500):
        calls.observe("tools/call", "srv-cap", f"flood-{i}", "ok", 0.001)

    assert _names_of("srv-cap") == {"first", "second", "_other"}
    assert _count("tools/call", "srv-cap", "_other", "ok") == 500
    # A server never admitted folds whole: a thousand servers cannot make a thousand series.
    calls.observe("tools/call", "srv-cap-late", "third", "ok", 0.001)
    assert _names_of("srv-cap-late") == set()
    assert _count("tools/call", "_other", "_other", "ok") >= 1
    # Admitted names stay themselves after the cap is reached.
    calls.observe("tools/call", "srv-cap", "first", "tool_error", 0.001)
    assert _count("tools/call", "srv-cap", "first", "tool_error") == 1


def test_the_outcome_of_an_answer_is_ok_tool_error_or_error() -> None:
    assert outcome_of({"jsonrpc": "2.0", "id": 1, "result": {"content": []}}) == "ok"
    assert outcome_of({"jsonrpc": "2.0", "id": 1, "result": {"content": [], "isError": True}}) == "tool_error"
    assert outcome_of({"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "no"}}) == "error"
    assert outcome_of(None) == "error"


def test_upstream_errors_are_counted_by_gateway_and_kind() -> None:
    calls = CallMetrics(cap=10)
    labels = {"upstream": "gw-counted", "kind": "timeout"}

    calls.upstream_failed("gw-counted", "timeout")
    calls.upstream_failed("gw-counted", "timeout")

    assert REGISTRY.get_sample_value("switchboard_upstream_errors_total", labels) == 2


@contextlib.asynccontextmanager
async def _tcp_server(answer: bytes | None) -> AsyncIterator[str]:
    """A server on a free port that answers every connection with `answer` (raw HTTP),
    or never answers (None); its MCP URL."""
    held: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        if answer is None:
            return
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", free_port())
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


def _http(status: str, content_type: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    ).encode() + body


async def _failure(url: str) -> UpstreamError:
    async with aiohttp.ClientSession() as http:
        upstream = UpstreamSession(url, http, timeout_s=0.3)
        with pytest.raises(UpstreamError) as raised:
            await upstream.request("ping")
        return raised.value


async def test_an_unreachable_upstream_is_unavailable_and_a_connect_error() -> None:
    closed = f"http://127.0.0.1:{free_port()}/mcp"
    assert failure_of(await _failure(closed)) == ("unavailable", "connect")


async def test_a_silent_upstream_is_a_timeout() -> None:
    async with _tcp_server(None) as url:
        assert failure_of(await _failure(url)) == ("timeout", "timeout")


async def test_an_upstream_answering_an_http_error_without_json_is_an_http_error() -> None:
    async with _tcp_server(_http("502 Bad Gateway", "text/plain", b"")) as url:
        assert failure_of(await _failure(url)) == ("error", "http")


async def test_an_upstream_answering_what_is_not_mcp_is_a_protocol_error() -> None:
    async with _tcp_server(_http("200 OK", "application/json", b"not json")) as url:
        assert failure_of(await _failure(url)) == ("error", "protocol")


def test_a_failure_that_is_not_the_upstreams_counts_no_upstream_error() -> None:
    assert failure_of(asyncio.CancelledError()) == ("error", None)
