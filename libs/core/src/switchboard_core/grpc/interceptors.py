"""Interceptors: the internal token, W3C trace context over metadata, and errors to
gRPC status codes.

A servicer raises `SwitchboardError`s; the server interceptor turns each into the
status code `errors.STATUS` names, so servicers stay translation-only, and refuses a
call to an internal API that lacks the internal token (`internal_auth`). Client
interceptors send that token, and count each outgoing call (`counters`: `grpc.calls`,
by method too); the server interceptor counts each call it lets through (`grpc.served`,
by method too), which shows how calls spread over a service's replicas.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from opentelemetry import context, propagate, trace

from switchboard_core import telemetry
from switchboard_core.counters import COUNTERS
from switchboard_core.errors import SwitchboardError, status_of
from switchboard_core.grpc import internal_auth
from switchboard_core.tracing.grpc_client_spans import span_interceptors

tracer = trace.get_tracer(__name__)
logger = logging.getLogger(__name__)


def _abort_details(exc: SwitchboardError) -> tuple[grpc.StatusCode, str]:
    return status_of(exc)[1], exc.message


class ServerInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, internal_token: str) -> None:
        self._accepted = internal_auth.accepted(internal_token)

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        if not internal_auth.is_open(details.method) and not internal_auth.carries(
            details.invocation_metadata, self._accepted
        ):
            return internal_auth.refusing(handler)
        COUNTERS.add("grpc.served")
        COUNTERS.add(f"grpc.served.{details.method}")
        carrier = {k: v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}
        method = details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _unary(handler.unary_unary, method, carrier),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _unary(handler.stream_unary, method, carrier),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _streaming(handler.unary_stream, method, carrier),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _unary(behavior: Callable[..., Any], method: str, carrier: dict[str, str]):
    async def wrapped(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        token = context.attach(propagate.extract(carrier))
        try:
            with tracer.start_as_current_span(method, kind=trace.SpanKind.SERVER):
                return await behavior(request, ctx)
        except SwitchboardError as exc:
            await ctx.abort(*_abort_details(exc))
        finally:
            context.detach(token)

    return wrapped


def _streaming(behavior: Callable[..., Any], method: str, carrier: dict[str, str]):
    async def wrapped(request: Any, ctx: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        token = context.attach(propagate.extract(carrier))
        try:
            with tracer.start_as_current_span(method, kind=trace.SpanKind.SERVER):
                replies = behavior(request, ctx)
                if inspect.isawaitable(replies):
                    # A handler that writes with `ctx.write` and returns nothing (the
                    # health service's Watch) rather than yielding its replies.
                    await replies
                    return
                async for item in replies:
                    yield item
        except SwitchboardError as exc:
            await ctx.abort(*_abort_details(exc))
        finally:
            context.detach(token)

    return wrapped


class _Outgoing:
    """What every outgoing call goes through: counted, given the internal token and the
    trace context."""

    def __init__(self, internal_token: str) -> None:
        self._internal_token = internal_auth.sent(internal_token)
        # Untraced, there is no context to send: not even asked for, per call.
        self._traced = telemetry.tracing_active()

    def details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        COUNTERS.add("grpc.calls")
        COUNTERS.add(f"grpc.calls.{method}")
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        metadata.add(internal_auth.METADATA_KEY, self._internal_token)
        if self._traced and "traceparent" not in metadata:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            for key, value in carrier.items():
                metadata.add(key, value)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


class ClientUnaryUnary(_Outgoing, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self.details(details), request)


class ClientUnaryStream(_Outgoing, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self.details(details), request)


class ClientStreamUnary(_Outgoing, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        return await continuation(self.details(details), request_iterator)


def client_interceptors(internal_token: str) -> list[grpc.aio.ClientInterceptor]:
    # The span interceptors come first: the trace context injected below is their span's.
    spans = span_interceptors() if telemetry.tracing_active() else []
    return [
        *spans,
        ClientUnaryUnary(internal_token),
        ClientUnaryStream(internal_token),
        ClientStreamUnary(internal_token),
    ]
