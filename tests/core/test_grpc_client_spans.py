"""Outgoing gRPC calls become client spans inside a trace, and carry that span's context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from switchboard_core.grpc.interceptors import client_interceptors
from switchboard_core.tracing.grpc_client_spans import span_interceptors
from switchboard_testing.internal import INTERNAL_TOKEN
from switchboard_testing.readiness import eventually_async


def _traceparent(context: grpc.aio.ServicerContext) -> bytes:
    return dict(context.invocation_metadata()).get("traceparent", "").encode()


async def _echo_traceparent(_request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return _traceparent(context)


async def _refuse(_request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    await context.abort(grpc.StatusCode.NOT_FOUND, "nothing here")


async def _three(_request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for _ in range(3):
        yield _traceparent(context)


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
async def channel(provider) -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.Probe",
                {
                    "Echo": grpc.unary_unary_rpc_method_handler(_echo_traceparent),
                    "Refuse": grpc.unary_unary_rpc_method_handler(_refuse),
                    "Three": grpc.unary_stream_rpc_method_handler(_three),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(
        f"127.0.0.1:{port}",
        interceptors=[*span_interceptors(provider[0]), *client_interceptors(INTERNAL_TOKEN)],
    )
    yield channel
    await channel.close()
    await server.stop(None)


async def test_a_call_in_a_trace_is_a_client_span_whose_context_the_server_receives(
    channel, provider
) -> None:
    tracer_provider, exporter = provider
    with tracer_provider.get_tracer("test").start_as_current_span("request") as request:
        traceparent = await channel.unary_unary("/test.Probe/Echo")(b"", timeout=10)

    [span] = [s for s in exporter.get_finished_spans() if s.name == "/test.Probe/Echo"]
    assert span.parent is not None and span.parent.span_id == request.get_span_context().span_id
    assert traceparent.decode().startswith(f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-")
    assert span.attributes["rpc.system"] == "grpc"
    assert (span.attributes["rpc.service"], span.attributes["rpc.method"]) == ("test.Probe", "Echo")
    assert span.attributes["rpc.grpc.status_code"] == 0


async def test_a_context_the_caller_sent_is_kept(channel, provider) -> None:
    tracer_provider, _exporter = provider
    sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with tracer_provider.get_tracer("test").start_as_current_span("request"):
        received = await channel.unary_unary("/test.Probe/Echo")(
            b"", timeout=10, metadata=(("traceparent", sent),)
        )
    assert received.decode() == sent


async def test_a_refused_call_ends_its_span_as_an_error_and_the_caller_still_sees_the_refusal(
    channel, provider
) -> None:
    tracer_provider, exporter = provider
    with tracer_provider.get_tracer("test").start_as_current_span("request"):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await channel.unary_unary("/test.Probe/Refuse")(b"", timeout=10)
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND
    [span] = [s for s in exporter.get_finished_spans() if s.name == "/test.Probe/Refuse"]
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert not span.status.is_ok


async def test_a_streamed_call_span_ends_with_its_stream(channel, provider) -> None:
    tracer_provider, exporter = provider
    with tracer_provider.get_tracer("test").start_as_current_span("request"):
        replies = [reply async for reply in channel.unary_stream("/test.Probe/Three")(b"", timeout=10)]
    assert len(replies) == 3 and replies[0].startswith(b"00-")

    def ended() -> list:
        return [s for s in exporter.get_finished_spans() if s.name == "/test.Probe/Three"]

    await eventually_async(lambda: len(ended()) == 1, within_s=5, what="the stream's span ended")
    assert ended()[0].attributes["rpc.grpc.status_code"] == 0


async def test_a_call_outside_any_trace_makes_no_span_and_sends_no_context(channel, provider) -> None:
    _tracer_provider, exporter = provider
    assert await channel.unary_unary("/test.Probe/Echo")(b"", timeout=10) == b""
    assert exporter.get_finished_spans() == ()


def test_an_untraced_process_adds_no_span_interceptor() -> None:
    assert not any(
        type(interceptor).__module__.endswith("grpc_client_spans")
        for interceptor in client_interceptors(INTERNAL_TOKEN)
    )
