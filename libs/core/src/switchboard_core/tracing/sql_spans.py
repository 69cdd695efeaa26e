"""One CLIENT span per SQL statement an engine runs, inside a trace.

The span carries the statement's text as SQLAlchemy sent it to the driver: bound
parameters are placeholders there (`?`, `%(name)s`), and their values are never read.
String literals written into a statement's text are blanked too (`'…'` becomes `'?'`),
so a statement built by hand cannot leak what it quoted. Attributes: `db.system`
(`sqlite`, `postgresql`), `db.operation` (the statement's first word, upper case),
`db.statement`; the span is named by the operation.
"""

from __future__ import annotations

import re

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode, TracerProvider
from sqlalchemy import event
from sqlalchemy.engine import Engine

from switchboard_core.tracing.inside import inside_a_trace

# Long multi-row inserts (metrics batches) keep their head only.
MAX_STATEMENT_CHARS = 2000
_LITERAL = re.compile(r"'(?:[^']|'')*'")
_SPAN_KEY = "_switchboard_sql_span"


def sanitized(statement: str) -> str:
    """The statement with every quoted literal blanked, cut to `MAX_STATEMENT_CHARS`."""
    return _LITERAL.sub("'?'", statement[: MAX_STATEMENT_CHARS * 2])[:MAX_STATEMENT_CHARS]


def operation_of(statement: str) -> str:
    head = statement.lstrip().split(None, 1)
    return head[0].upper() if head else ""


def trace_statements(engine: Engine, tracer_provider: TracerProvider | None = None) -> None:
    """Make `engine` (the `sync_engine` of an async one) open a span per statement."""
    tracer = trace.get_tracer(__name__, tracer_provider=tracer_provider)
    system = engine.dialect.name

    def before(_conn, _cursor, statement, _parameters, context, _executemany) -> None:
        if context is None or not inside_a_trace():
            return
        operation = operation_of(statement)
        span = tracer.start_span(
            operation or "SQL",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "db.system": system,
                "db.operation": operation,
                "db.statement": sanitized(statement),
            },
        )
        setattr(context, _SPAN_KEY, span)

    def after(_conn, _cursor, _statement, _parameters, context, _executemany) -> None:
        span = getattr(context, _SPAN_KEY, None)
        if span is not None:
            setattr(context, _SPAN_KEY, None)
            span.end()

    def failed(exception_context) -> None:
        context = exception_context.execution_context
        span = getattr(context, _SPAN_KEY, None) if context is not None else None
        if span is not None:
            setattr(context, _SPAN_KEY, None)
            error = exception_context.original_exception
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.end()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)
