"""With tracing on, each recorded call gets a `metrics.record` span inside its own trace."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider
from switchboard.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from switchboard_metrics.domain.invocations import Invocation
from switchboard_metrics.tracing import CallSpans

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


async def test_a_traced_call_gets_a_metrics_span_under_its_own_span(
    channel, spans: InMemorySpanExporter
) -> None:
    traced = metrics_pb2.Invocation(tool="echo", duration_ms=1.0, success=True, trace_id=TRACE, span_id=SPAN)
    untraced = metrics_pb2.Invocation(tool="echo", duration_ms=1.0, success=True)

    async def stream():
        yield metrics_pb2.InvocationBatch(invocations=[traced, untraced])

    await metrics_pb2_grpc.MetricsServiceStub(channel).Ingest(stream(), timeout=10)

    [span] = [s for s in spans.get_finished_spans() if s.name == "metrics.record"]
    assert format(span.context.trace_id, "032x") == TRACE
    assert span.parent is not None and format(span.parent.span_id, "016x") == SPAN
    assert span.parent.is_remote
    assert span.attributes["switchboard.tool"] == "echo"


def test_nothing_is_recorded_when_tracing_is_off() -> None:
    spans = CallSpans(NoOpTracerProvider())

    assert not spans.enabled
    spans.record([Invocation("echo", trace_id=TRACE, span_id=SPAN)])
