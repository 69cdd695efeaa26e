"""SQL statements become spans inside a trace: text and operation, never parameter values."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from switchboard_core.db import create_engine
from switchboard_core.tracing.sql_spans import operation_of, sanitized, trace_statements

SECRET = "hunter2-do-not-trace"


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS traced_secrets"))
        await conn.execute(text("CREATE TABLE traced_secrets (name VARCHAR(64), secret VARCHAR(64))"))
    yield engine
    await engine.dispose()


async def test_a_statement_in_a_trace_is_a_span_without_its_parameter_values(engine, provider) -> None:
    tracer_provider, exporter = provider
    trace_statements(engine.sync_engine, tracer_provider)
    with tracer_provider.get_tracer("test").start_as_current_span("request") as request:
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO traced_secrets (name, secret) VALUES (:name, :secret)"),
                {"name": "token", "secret": SECRET},
            )
            await conn.execute(text(f"SELECT name FROM traced_secrets WHERE secret = '{SECRET}'"))

    spans = {span.name: span for span in exporter.get_finished_spans()}
    insert, select = spans["INSERT"], spans["SELECT"]
    assert insert.attributes["db.operation"] == "INSERT"
    assert insert.attributes["db.system"] == engine.dialect.name
    assert "INSERT INTO traced_secrets" in insert.attributes["db.statement"]
    assert select.attributes["db.statement"].endswith("WHERE secret = '?'")
    for span in (insert, select):
        assert span.parent is not None and span.parent.span_id == request.get_span_context().span_id
        assert SECRET not in str(dict(span.attributes))


async def test_a_statement_outside_any_trace_makes_no_span(engine, provider) -> None:
    tracer_provider, exporter = provider
    trace_statements(engine.sync_engine, tracer_provider)
    async with engine.begin() as conn:
        await conn.execute(text("SELECT 1"))
    assert exporter.get_finished_spans() == ()


async def test_a_failed_statement_ends_its_span_as_an_error(engine, provider) -> None:
    tracer_provider, exporter = provider
    trace_statements(engine.sync_engine, tracer_provider)
    with tracer_provider.get_tracer("test").start_as_current_span("request"):
        with pytest.raises(DBAPIError, match="no_such_table|does not exist"):
            async with engine.begin() as conn:
                await conn.execute(text("SELECT * FROM no_such_table"))
    [failed] = [span for span in exporter.get_finished_spans() if span.name == "SELECT"]
    assert not failed.status.is_ok and "error.type" in failed.attributes


def test_an_untraced_engine_carries_no_span_listener() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    assert not engine.sync_engine.dispatch.after_cursor_execute


def test_statements_are_named_by_their_first_word_and_lose_their_literals() -> None:
    assert operation_of("  insert into t values (?)") == "INSERT"
    assert sanitized("SELECT 'it''s', x FROM t WHERE y = 'z'") == "SELECT '?', x FROM t WHERE y = '?'"
