"""Each HTTP request to an upstream, inside a trace, is a client span, and the upstream
receives that span's `traceparent`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from switchboard_mcp.upstream import UpstreamSession, new_http_client
from switchboard_mcp.upstream.http_spans import client_spans
from switchboard_testing.outbound import LOOPBACK_ALLOWED
from switchboard_testing.upstream_process import UpstreamProcess, start_upstream


@pytest.fixture(scope="module")
def upstream() -> Iterator[UpstreamProcess]:
    with start_upstream(name="traced") as running:
        yield running


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
async def http(provider) -> AsyncIterator[aiohttp.ClientSession]:
    client = aiohttp.ClientSession(middlewares=(client_spans(provider[0]),))
    yield client
    await client.close()


async def test_an_upstream_call_in_a_trace_is_a_client_span_whose_context_the_upstream_receives(
    upstream: UpstreamProcess, http, provider
) -> None:
    tracer_provider, exporter = provider
    session = UpstreamSession(upstream.url + "?api_key=not-for-traces", http)
    await session.connect()
    exporter.clear()
    with tracer_provider.get_tracer("test").start_as_current_span("tools/call") as call:
        result = await session.call_tool("headers", {})
    await session.close()

    [span] = [s for s in exporter.get_finished_spans() if s.name == "POST"]
    assert span.parent is not None and span.parent.span_id == call.get_span_context().span_id
    sent = f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-"
    assert sent in str(result), "the upstream did not receive the client span's traceparent"
    assert span.attributes["http.request.method"] == "POST"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["url.full"] == upstream.url
    assert "not-for-traces" not in str(dict(span.attributes))


async def test_upstream_requests_outside_any_trace_make_no_span_and_send_no_context(
    upstream: UpstreamProcess, http, provider
) -> None:
    _tracer_provider, exporter = provider
    session = UpstreamSession(upstream.url, http)
    result = await session.call_tool("headers", {})
    await session.close()
    assert exporter.get_finished_spans() == ()
    assert "traceparent" not in str(result)


async def test_an_untraced_process_makes_upstream_clients_without_the_span_middleware() -> None:
    client = new_http_client(policy=LOOPBACK_ALLOWED)
    try:
        assert len(client._middlewares) == 1  # the address guard alone
    finally:
        await client.close()
