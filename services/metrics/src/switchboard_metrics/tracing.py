"""A `metrics.record` span inside the trace of each recorded call.

A tools/call's trace then shows the moment its invocation record reached the metrics
service, although the record travelled in a batch long after the call returned. The
span's parent is the call's own span (carried in the record), and it links to the
Ingest RPC that brought it. With tracing off this costs one isinstance check a batch.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, TraceFlags

from switchboard_metrics.domain.invocations import Invocation

tracer = trace.get_tracer(__name__)

_UNCONFIGURED = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


class CallSpans:
    """Records spans through the global tracer provider, or `tracer_provider` when given."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._provider = tracer_provider
        self._tracer = tracer if tracer_provider is None else tracer_provider.get_tracer(__name__)

    @property
    def enabled(self) -> bool:
        if self._provider is not None:
            return not isinstance(self._provider, _UNCONFIGURED)
        return trace.get_current_span().is_recording() or not isinstance(
            trace.get_tracer_provider(), _UNCONFIGURED
        )

    def record(self, records: Iterable[Invocation]) -> None:
        if not self.enabled:
            return
        ingest = trace.get_current_span().get_span_context()
        links = [Link(ingest)] if ingest.is_valid else None
        for record in records:
            if record.traced:
                self._record_one(record, links)

    def _record_one(self, record: Invocation, links: list[Link] | None) -> None:
        call = SpanContext(
            trace_id=int(record.trace_id, 16),
            span_id=int(record.span_id, 16),
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        span = self._tracer.start_span(
            "metrics.record",
            context=trace.set_span_in_context(NonRecordingSpan(call)),
            links=links,
            attributes={
                "switchboard.tool": record.tool,
                "switchboard.server_id": record.server_id,
                "switchboard.success": record.success,
                "switchboard.duration_ms": record.duration_ms,
            },
        )
        span.end()
