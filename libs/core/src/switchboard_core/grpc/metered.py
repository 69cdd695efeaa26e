"""gRPC RED metrics: every call served and made, timed, by service, method and status
code (`switchboard_grpc_server_handling_seconds`, `switchboard_grpc_client_handling_seconds`).

The interceptors here go first in their chains (`server.build_server`,
`channels.Channels`), so the code observed is the one the peer sees: a servicer's
`SwitchboardError` already turned into its status by `interceptors.ServerInterceptor`,
a call refused for want of the internal token included. A stream is timed whole, from
the call to its last message (a change feed: for as long as it stays open). They replace
the `grpc.calls`/`grpc.served` counters for Prometheus (`_count` of these histograms).

Label values are bounded by what the server registered: a method no handler serves is
never wrapped. Each (method, code) pair's histogram child is resolved once.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from time import perf_counter
from typing import Any

import grpc
from prometheus_client import Histogram

from switchboard_core.prometheus.catalogue import GRPC_CLIENT_DURATION, GRPC_SERVER_DURATION

Observe = Callable[[float], None]


class _Recorder:
    """One histogram's observe functions by (full method name, code name)."""

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._observe: dict[tuple[str, str], Observe] = {}

    def record(self, method: str, code: str, seconds: float) -> None:
        observe = self._observe.get((method, code))
        if observe is None:
            service, _, name = method.lstrip("/").rpartition("/")
            observe = self._histogram.labels(service or "unknown", name, code).observe
            self._observe[(method, code)] = observe
        observe(seconds)


SERVED = _Recorder(GRPC_SERVER_DURATION)
CALLED = _Recorder(GRPC_CLIENT_DURATION)


def _served_code(ctx: grpc.aio.ServicerContext, failure: BaseException | None) -> str:
    """The status the servicer answered: what it set or aborted with, else OK when it
    returned and UNKNOWN when it raised (what grpc answers then); CANCELLED when the
    client went away."""
    code = ctx.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if failure is None:
        return "OK"
    return "CANCELLED" if isinstance(failure, asyncio.CancelledError) else "UNKNOWN"


class MeteredServer(grpc.aio.ServerInterceptor):
    def __init__(self, recorder: _Recorder = SERVED) -> None:
        self._recorder = recorder

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        method, record = details.method, self._recorder.record
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _timed_unary(handler.unary_unary, method, record),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _timed_unary(handler.stream_unary, method, record),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _timed_stream(handler.unary_stream, method, record),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _timed_stream(handler.stream_stream, method, record),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _timed_unary(behavior: Callable[..., Any], method: str, record: Callable[[str, str, float], None]):
    async def timed(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
        started = perf_counter()
        failure: BaseException | None = None
        try:
            return await behavior(request, ctx)
        except BaseException as exc:  # observed, and raised again
            failure = exc
            raise
        finally:
            record(method, _served_code(ctx, failure), perf_counter() - started)

    return timed


def _timed_stream(behavior: Callable[..., Any], method: str, record: Callable[[str, str, float], None]):
    async def timed(request: Any, ctx: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        started = perf_counter()
        failure: BaseException | None = None
        try:
            replies = behavior(request, ctx)
            if inspect.isawaitable(replies):
                # A handler that writes with `ctx.write` and returns nothing.
                await replies
                return
            async for item in replies:
                yield item
        except BaseException as exc:  # observed, and raised again
            failure = exc
            raise
        finally:
            record(method, _served_code(ctx, failure), perf_counter() - started)

    return timed


def _finished_code(call: Any) -> str:
    """The status of a call that has ended, read without a task: its `code()` coroutine
    completes at once on a finished call (a task per call, made in a done callback,
    could outlive the loop at shutdown)."""
    step = call.code()
    try:
        step.send(None)
    except StopIteration as done:
        code = done.value
        return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    except asyncio.CancelledError:
        return "CANCELLED"
    except grpc.RpcError:
        return "UNKNOWN"
    step.close()
    return "UNKNOWN"


class _Metered:
    def __init__(self, recorder: _Recorder = CALLED) -> None:
        self._recorder = recorder

    def _follow(self, call: Any, details: grpc.aio.ClientCallDetails, started: float) -> Any:
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        record = self._recorder.record

        def ended(finished: Any) -> None:
            record(method, _finished_code(finished), perf_counter() - started)

        call.add_done_callback(ended)
        return call


class MeteredUnaryUnary(_Metered, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        started = perf_counter()
        return self._follow(await continuation(details, request), details, started)


class MeteredUnaryStream(_Metered, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        started = perf_counter()
        return self._follow(await continuation(details, request), details, started)


class MeteredStreamUnary(_Metered, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        started = perf_counter()
        return self._follow(await continuation(details, request_iterator), details, started)


class MeteredStreamStream(_Metered, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):
        started = perf_counter()
        return self._follow(await continuation(details, request_iterator), details, started)


def metered_client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    return [MeteredUnaryUnary(), MeteredUnaryStream(), MeteredStreamUnary(), MeteredStreamStream()]
