"""Invocation records arrive over a client stream and are stored batch by batch."""

from __future__ import annotations

import grpc
import pytest
from switchboard.metrics.v1 import metrics_pb2, metrics_pb2_grpc
from switchboard_core.principals import Principal
from switchboard_metrics.domain.invocations import MAX_TOOL
from switchboard_metrics.service import MetricsService
from switchboard_metrics.store.tables import invocations

T0 = 1_700_000_000_000
ADMIN = Principal("u-admin", "admin@example.com", True, (), "t-admin", 2**40)


def invocation(tool: str = "echo", **fields) -> metrics_pb2.Invocation:
    fields.setdefault("duration_ms", 12.5)
    fields.setdefault("success", True)
    fields.setdefault("started_at_ms", T0)
    return metrics_pb2.Invocation(tool=tool, **fields)


async def ingest(channel: grpc.aio.Channel, *batches: list[metrics_pb2.Invocation]) -> int:
    async def stream():
        for batch in batches:
            yield metrics_pb2.InvocationBatch(invocations=batch)

    reply = await metrics_pb2_grpc.MetricsServiceStub(channel).Ingest(stream(), timeout=10)
    return reply.accepted


async def test_a_stream_of_batches_is_stored_and_counted(channel, service: MetricsService) -> None:
    first = [invocation("echo", duration_ms=float(i), server_id="s1") for i in range(1, 6)]
    second = [invocation("fail", success=False, error="boom", server_id="s1") for _ in range(3)]

    accepted = await ingest(channel, first, second)

    assert accepted == 8
    _window, tools = await service.reader.per_tool(ADMIN, since_ms=T0, until_ms=T0)
    by_tool = {t.tool: t.stats for t in tools}
    assert by_tool["echo"].calls == 5
    assert by_tool["echo"].errors == 0
    assert by_tool["fail"].calls == 3
    assert by_tool["fail"].errors == 3


async def test_every_field_of_a_record_is_kept(channel, service: MetricsService) -> None:
    record = invocation(
        "search",
        server_id="srv",
        gateway_id="gw",
        caller="ann@example.com",
        duration_ms=42.25,
        success=False,
        error="upstream timed out",
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        span_id="00f067aa0ba902b7",
    )
    await ingest(channel, [record])

    async with service.store.engine.connect() as conn:
        row = (await conn.execute(invocations.select())).mappings().one()
    assert {k: v for k, v in row.items() if k != "id"} == {
        "tool": "search",
        "server_id": "srv",
        "gateway_id": "gw",
        "caller": "ann@example.com",
        "duration_ms": 42.25,
        "success": False,
        "started_at": T0,
        "error": "upstream timed out",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    }


async def test_records_without_a_tool_are_refused_and_long_fields_clipped(
    channel, service: MetricsService
) -> None:
    accepted = await ingest(
        channel, [invocation(""), invocation("x" * 1000), invocation("ok", duration_ms=-3.0)]
    )

    assert accepted == 2
    _window, tools = await service.reader.per_tool(ADMIN, since_ms=T0, until_ms=T0)
    assert sorted(t.tool for t in tools) == sorted(["ok", "x" * MAX_TOOL])
    assert next(t for t in tools if t.tool == "ok").stats.p50_ms == 0.0


async def test_an_empty_stream_accepts_nothing(channel) -> None:
    assert await ingest(channel) == 0


async def test_a_large_batch_is_stored_whole(channel, service: MetricsService) -> None:
    batch = [invocation("bulk", duration_ms=float(i)) for i in range(2500)]

    assert await ingest(channel, batch) == 2500

    _window, summary = await service.reader.summary(ADMIN, since_ms=T0, until_ms=T0)
    assert summary.stats.calls == 2500


@pytest.mark.parametrize("started_at_ms", [0, -5])
async def test_a_record_without_a_start_time_is_stamped_on_arrival(
    channel, service: MetricsService, started_at_ms: int
) -> None:
    await ingest(channel, [invocation("late", started_at_ms=started_at_ms)])

    _window, tools = await service.reader.per_tool(ADMIN)
    assert [t.tool for t in tools] == ["late"]


async def test_text_with_nul_is_stored_without_it_rather_than_failing_the_batch(
    channel, service: MetricsService
) -> None:
    # An upstream's error message may hold NUL, which Postgres text refuses: a batch that
    # failed for it would be sent again, and fail again, for ever.
    batch = [invocation("echo"), invocation("echo", success=False, error="bad\x00byte", caller="a\x00b")]

    assert await ingest(channel, batch) == 2

    async with service.store.engine.connect() as conn:
        rows = (await conn.execute(invocations.select().order_by(invocations.c.id))).mappings().all()
    assert [(r["error"], r["caller"]) for r in rows] == [("", ""), ("badbyte", "ab")]
