"""The proxy's metrics buffer: records leave the request path in few, batched Ingest calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import grpc
import pytest
from prometheus_client import REGISTRY
from switchboard.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from switchboard_core.grpc.interceptors import client_interceptors
from switchboard_proxy.metrics_buffer import MetricsBuffer
from switchboard_testing.internal import INTERNAL_TOKEN
from switchboard_testing.ports import free_port


class CountingMetrics(metrics_pb2_grpc.MetricsServiceServicer):
    """A real MetricsService servicer that remembers every call and batch."""

    def __init__(self) -> None:
        self.calls = 0
        self.batches: list[int] = []
        self.tools: list[str] = []

    async def Ingest(self, request_iterator, context) -> metrics_pb2.IngestSummary:
        self.calls += 1
        accepted = 0
        async for batch in request_iterator:
            self.batches.append(len(batch.invocations))
            self.tools.extend(i.tool for i in batch.invocations)
            accepted += len(batch.invocations)
        return metrics_pb2.IngestSummary(accepted=accepted)


async def serve(servicer: CountingMetrics, port: int, *, max_message_bytes: int = -1) -> grpc.aio.Server:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", max_message_bytes)])
    metrics_pb2_grpc.add_MetricsServiceServicer_to_server(servicer, server)
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    await server.start()
    return server


def connect(port: int) -> grpc.aio.Channel:
    # The proxy's own client interceptors; reconnect quickly once a server that was down comes up.
    return grpc.aio.insecure_channel(
        f"127.0.0.1:{port}",
        interceptors=client_interceptors(INTERNAL_TOKEN),
        options=[
            ("grpc.initial_reconnect_backoff_ms", 50),
            ("grpc.min_reconnect_backoff_ms", 50),
            ("grpc.max_reconnect_backoff_ms", 200),
        ],
    )


async def eventually(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    """Wait until `condition()` holds, failing after `within_s`; checks every 10 ms."""
    async with asyncio.timeout(within_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


def invocation(i: int) -> metrics_pb2.Invocation:
    return metrics_pb2.Invocation(tool=f"tool-{i}", duration_ms=1.0, success=True, started_at_ms=1)


@pytest.fixture
async def metrics() -> AsyncIterator[tuple[CountingMetrics, grpc.aio.Channel]]:
    servicer = CountingMetrics()
    port = free_port()
    server = await serve(servicer, port)
    channel = connect(port)
    yield servicer, channel
    await channel.close()
    await server.stop(None)


async def test_many_records_travel_in_one_call_of_full_batches(metrics) -> None:
    servicer, channel = metrics
    buffer = MetricsBuffer(channel, flush_interval_s=60, max_batch=1000)
    for i in range(2500):
        buffer.record(invocation(i))

    buffer.start()
    await eventually(lambda: buffer.sent == 2500)

    assert servicer.calls == 1
    assert servicer.batches == [1000, 1000, 500]
    assert servicer.tools == [f"tool-{i}" for i in range(2500)]
    await buffer.close()


async def test_a_full_batch_is_sent_before_the_flush_interval(metrics) -> None:
    servicer, channel = metrics
    buffer = MetricsBuffer(channel, flush_interval_s=60, max_batch=100)
    buffer.start()
    for i in range(99):
        buffer.record(invocation(i))
    await asyncio.sleep(0)  # the flush task gets a turn, and must not flush a partial batch
    assert servicer.calls == 0

    buffer.record(invocation(99))
    await eventually(lambda: buffer.sent == 100)

    assert servicer.calls == 1
    await buffer.close()


async def test_a_partial_batch_goes_out_when_the_interval_ends(metrics) -> None:
    servicer, channel = metrics
    buffer = MetricsBuffer(channel, flush_interval_s=0.05)
    buffer.start()
    for i in range(10):
        buffer.record(invocation(i))

    await eventually(lambda: buffer.sent == 10)

    assert (servicer.calls, servicer.batches) == (1, [10])
    await buffer.close()


async def test_records_wait_for_a_metrics_service_that_was_down() -> None:
    port = free_port()
    channel = connect(port)
    buffer = MetricsBuffer(channel, flush_interval_s=0.05, timeout_s=0.2)
    buffer.start()
    for i in range(20):
        buffer.record(invocation(i))
    await eventually(lambda: buffer.failed_flushes >= 1)
    assert (buffer.sent, buffer.pending) == (0, 20)

    servicer = CountingMetrics()
    server = await serve(servicer, port)
    try:
        for i in range(20, 30):
            buffer.record(invocation(i))
        await eventually(lambda: buffer.sent == 30)

        assert servicer.tools == [f"tool-{i}" for i in range(30)]
        assert buffer.dropped == 0
    finally:
        await buffer.close()
        await channel.close()
        await server.stop(None)


async def test_past_capacity_records_are_dropped_and_counted(metrics) -> None:
    servicer, channel = metrics
    buffer = MetricsBuffer(channel, flush_interval_s=60, capacity=100)
    for i in range(150):
        buffer.record(invocation(i))

    assert (buffer.pending, buffer.dropped) == (100, 50)
    await buffer.close()
    assert servicer.tools == [f"tool-{i}" for i in range(100)]
    assert buffer.sent == 100


async def test_drops_of_a_full_buffer_reach_the_prometheus_counter_and_pending_records_the_gauge(
    metrics,
) -> None:
    _, channel = metrics
    buffer = MetricsBuffer(channel, flush_interval_s=60, capacity=10)
    dropped_before = REGISTRY.get_sample_value("switchboard_metrics_buffer_dropped_records_total")
    buffer.start()  # the buffer a scrape reads from now on
    for i in range(25):
        buffer.record(invocation(i))

    dropped = REGISTRY.get_sample_value("switchboard_metrics_buffer_dropped_records_total")
    assert dropped - dropped_before == 15
    assert REGISTRY.get_sample_value("switchboard_metrics_buffer_pending_records") == 10
    await buffer.close()
    assert REGISTRY.get_sample_value("switchboard_metrics_buffer_pending_records") == 0


async def test_close_sends_what_is_left(metrics) -> None:
    servicer, channel = metrics
    buffer = MetricsBuffer(channel, flush_interval_s=60)
    buffer.start()
    for i in range(10):
        buffer.record(invocation(i))

    await buffer.close()

    assert (servicer.calls, servicer.batches, buffer.sent, buffer.pending) == (1, [10], 10, 0)


async def test_close_gives_up_in_time_when_the_metrics_service_is_gone() -> None:
    channel = connect(free_port())
    buffer = MetricsBuffer(channel, flush_interval_s=60, timeout_s=1)
    buffer.start()
    for i in range(5):
        buffer.record(invocation(i))

    async with asyncio.timeout(5):
        await buffer.close()

    assert (buffer.sent, buffer.dropped, buffer.pending) == (0, 5, 0)
    await channel.close()


async def test_records_put_back_after_a_failed_flush_keep_the_newest_within_capacity() -> None:
    port = free_port()
    channel = connect(port)
    buffer = MetricsBuffer(channel, flush_interval_s=60, capacity=10, timeout_s=0.2)
    for i in range(10):
        buffer.record(invocation(i))

    flushing = asyncio.create_task(buffer.flush())
    await asyncio.sleep(0)  # the flush has taken the ten records and awaits the call; five more arrive
    for i in range(10, 15):
        buffer.record(invocation(i))
    assert not await flushing
    assert (buffer.pending, buffer.dropped, buffer.failed_flushes) == (10, 5, 1)

    servicer = CountingMetrics()
    server = await serve(servicer, port)
    try:
        await buffer.close()
        assert servicer.tools == [f"tool-{i}" for i in range(5, 15)]
    finally:
        await channel.close()
        await server.stop(None)


async def test_a_batch_the_metrics_service_never_takes_is_dropped_and_holds_back_no_other() -> None:
    servicer = CountingMetrics()
    port = free_port()
    server = await serve(servicer, port, max_message_bytes=64 * 1024)
    channel = connect(port)
    buffer = MetricsBuffer(channel, flush_interval_s=0.05, max_batch=10)
    wordy = [
        metrics_pb2.Invocation(tool=f"tool-{i}", success=False, error="e" * 10_000) for i in range(10, 20)
    ]
    try:
        for record in [*map(invocation, range(10)), *wordy, *map(invocation, range(20, 25))]:
            buffer.record(record)
        buffer.start()
        # The middle batch is larger than the service takes (RESOURCE_EXHAUSTED), every time.
        await eventually(lambda: buffer.sent == 15)
        assert (buffer.dropped, buffer.refused_batches, buffer.pending) == (10, 1, 0)

        for i in range(25, 30):
            buffer.record(invocation(i))
        await eventually(lambda: buffer.sent == 20)
        assert set(servicer.tools) == {f"tool-{i}" for i in [*range(10), *range(20, 30)]}
        assert buffer.refused_batches == 1
    finally:
        await buffer.close()
        await channel.close()
        await server.stop(None)
