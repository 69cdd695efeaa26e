"""One CLIENT span per outgoing gRPC call, inside a trace.

These interceptors come first in a channel's chain. They put the context of the call's
span in its metadata (`traceparent`, unless the caller sent one already), so the
server's span becomes its child. A unary call's span
ends with its answer; a streaming call's (a feed, a metrics batch) when the stream ends.
Attributes: `rpc.system=grpc`, `rpc.service`, `rpc.method`, `rpc.grpc.status_code`.
"""

from __future__ import annotations

import asyncio

import grpc
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider

from switchboard_core.tracing.inside import inside_a_trace


class _Spans:
    def __init__(self, tracer_provider: TracerProvider | None) -> None:
        self._tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)

    def start(self, details: grpc.aio.ClientCallDetails) -> Span:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        service, _, name = method.strip("/").partition("/")
        return self._tracer.start_span(
            method,
            kind=trace.SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        )


def _carrying(details: grpc.aio.ClientCallDetails, span: Span) -> grpc.aio.ClientCallDetails:
    """`details` whose metadata carries `span`'s context, unless it carries one already."""
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    if "traceparent" in metadata:
        return details
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    for key, value in carrier.items():
        metadata.add(key, value)
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


def _finish(span: Span, code: grpc.StatusCode) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))
    span.end()


async def _answered(span: Span, call) -> None:
    """Wait for a unary answer and end the span with its status; the caller, awaiting the
    same call, gets the same answer or error."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        _finish(span, exc.code())
        return
    except asyncio.CancelledError:
        _finish(span, grpc.StatusCode.CANCELLED)
        raise
    _finish(span, grpc.StatusCode.OK)


class SpanUnaryUnary(_Spans, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        if not inside_a_trace():
            return await continuation(details, request)
        span = self.start(details)
        with trace.use_span(span, end_on_exit=False):
            call = await continuation(_carrying(details, span), request)
        await _answered(span, call)
        return call


class SpanStreamUnary(_Spans, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        if not inside_a_trace():
            return await continuation(details, request_iterator)
        span = self.start(details)
        with trace.use_span(span, end_on_exit=False):
            call = await continuation(_carrying(details, span), request_iterator)
        # Not awaited here: a caller writing with `call.write` has not got the call yet.
        _end_when_done(span, call)
        return call


class SpanUnaryStream(_Spans, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        if not inside_a_trace():
            return await continuation(details, request)
        span = self.start(details)
        with trace.use_span(span, end_on_exit=False):
            call = await continuation(_carrying(details, span), request)
        _end_when_done(span, call)
        return call


def _end_when_done(span: Span, call) -> None:
    def done(finished) -> None:
        # The call has ended: its status is at hand without waiting.
        task = asyncio.ensure_future(finished.code())
        task.add_done_callback(lambda t: _finish(span, _code_of(t)))

    call.add_done_callback(done)


def _code_of(task: asyncio.Future) -> grpc.StatusCode:
    if task.cancelled() or task.exception() is not None:
        return grpc.StatusCode.UNKNOWN
    return task.result()


def span_interceptors(tracer_provider: TracerProvider | None = None) -> list[grpc.aio.ClientInterceptor]:
    return [
        SpanUnaryUnary(tracer_provider),
        SpanUnaryStream(tracer_provider),
        SpanStreamUnary(tracer_provider),
    ]
