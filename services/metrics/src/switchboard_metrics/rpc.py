"""gRPC face of the metrics service: batched ingest over a client stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from switchboard.metrics.v1 import metrics_pb2, metrics_pb2_grpc

from switchboard_metrics.domain.ingest import Ingestor
from switchboard_metrics.domain.invocations import Invocation
from switchboard_metrics.tracing import CallSpans


class MetricsServicer(metrics_pb2_grpc.MetricsServiceServicer):
    def __init__(self, ingestor: Ingestor, spans: CallSpans | None = None) -> None:
        self._ingestor = ingestor
        self._spans = spans or CallSpans()

    async def Ingest(
        self, request_iterator: AsyncIterator[metrics_pb2.InvocationBatch], context: grpc.aio.ServicerContext
    ) -> metrics_pb2.IngestSummary:
        accepted = 0
        # Each batch is stored as it arrives: a stream cut short keeps what it delivered.
        async for batch in request_iterator:
            stored = await self._ingestor.ingest(_invocation(p) for p in batch.invocations)
            accepted += len(stored)
            self._spans.record(stored)
        return metrics_pb2.IngestSummary(accepted=accepted)


def _invocation(p: metrics_pb2.Invocation) -> Invocation:
    return Invocation(
        tool=p.tool,
        server_id=p.server_id,
        gateway_id=p.gateway_id,
        caller=p.caller,
        duration_ms=p.duration_ms,
        success=p.success,
        started_at_ms=p.started_at_ms,
        error=p.error,
        trace_id=p.trace_id,
        span_id=p.span_id,
    )
