"""Redis commands become spans inside a trace: command names only, never keys or values."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from switchboard_core.shared.counted_redis import CountedRedis
from switchboard_core.shared.redis_client import RedisConfig, make_client
from switchboard_core.tracing.redis_spans import TracedRedis
from switchboard_testing.redis_server import RedisServer

SECRET_KEY = "session:key-do-not-trace"
SECRET_VALUE = "value-do-not-trace"


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def test_commands_in_a_trace_are_spans_naming_the_command_only(
    redis_server: RedisServer, provider
) -> None:
    tracer_provider, exporter = provider
    client = TracedRedis.from_url(redis_server.url)
    client.tracer = tracer_provider.get_tracer("test")
    with client.tracer.start_as_current_span("request") as request:
        await client.set(SECRET_KEY, SECRET_VALUE)
        assert await client.get(SECRET_KEY) == SECRET_VALUE.encode()
        async with client.pipeline() as pipeline:
            await (
                pipeline.hset(SECRET_KEY + ":h", "field", SECRET_VALUE)
                .expire(SECRET_KEY + ":h", 60)
                .execute()
            )
    await client.aclose()

    spans = {span.name: span for span in exporter.get_finished_spans() if span.name != "request"}
    assert set(spans) == {"SET", "GET", "MULTI"}
    assert spans["SET"].attributes["db.system"] == "redis"
    assert spans["GET"].attributes["db.operation"] == "GET"
    assert tuple(spans["MULTI"].attributes["db.redis.commands"]) == ("HSET", "EXPIRE")
    for span in spans.values():
        assert span.parent is not None and span.parent.span_id == request.get_span_context().span_id
        assert "do-not-trace" not in str(dict(span.attributes))


async def test_commands_outside_any_trace_make_no_span(redis_server: RedisServer, provider) -> None:
    tracer_provider, exporter = provider
    client = TracedRedis.from_url(redis_server.url)
    client.tracer = tracer_provider.get_tracer("test")
    await client.ping()
    await client.aclose()
    assert exporter.get_finished_spans() == ()


def test_an_untraced_process_gets_the_plain_counted_client() -> None:
    client = make_client(RedisConfig("redis://127.0.0.1:1/0"))
    assert type(client) is CountedRedis
