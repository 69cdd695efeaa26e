"""How a log record becomes a line: one JSON object (`JsonFormatter`) or a human line
(`TextFormatter`, for `switchboard up` in a terminal).

Each line carries what joins it to the rest of the system: the request id (`edge`'s
contextvar: nginx's `X-Request-ID`, or the one the gateway made), the current span's
`trace_id` and `span_id` when one is recording, the `service`(s) the process runs and
its `replica`. A formatter only runs for a line that is emitted (the logger's level is
checked before a record exists), and reads the contextvars then, in the thread that
logged, so a filtered-out `debug` costs no formatting at all.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson
from opentelemetry import trace

from switchboard_core.http.edge import request_id
from switchboard_core.logs.redaction import redact

# The record attributes every `LogRecord` has; anything else came in `extra=` and is a field.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "trace_id",
    "span_id",
}


def _time(created: float) -> str:
    """RFC 3339, UTC, milliseconds: `2026-12-07T22:15:29.123Z`."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _span_ids(record: logging.LogRecord) -> tuple[str, str]:
    """The current span's ids, or those the record was given (the access log's line is
    written after the request's span has ended)."""
    given = record.__dict__.get("trace_id")
    if given:
        return given, record.__dict__.get("span_id", "")
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _extra(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: `time`, `level`, `service`, `replica`, `logger`,
    `message`, `request_id`, `trace_id`, `span_id` (the last three empty outside a request
    or a span), `exc` (a traceback), and any `extra=` fields."""

    def __init__(self, *, service: str, replica: str) -> None:
        super().__init__()
        self.service = service
        self.replica = replica

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = _span_ids(record)
        event: dict[str, object] = {
            "time": _time(record.created),
            "level": record.levelname.lower(),
            "service": self.service,
            "replica": self.replica,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": request_id(),
            "trace_id": trace_id,
            "span_id": span_id,
        }
        if record.exc_info:
            event["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            event["exc"] = redact(record.exc_text)
        if record.stack_info:
            event["stack"] = record.stack_info
        for key, value in _extra(record).items():
            event.setdefault(key, redact(value) if isinstance(value, str) else value)
        return orjson.dumps(event, default=str).decode()


class TextFormatter(logging.Formatter):
    """`22:15:29.123 INFO  switchboard_auth.app: message [request id] [trace id]`, and the
    traceback below: for a person watching `switchboard up`. Fields given with `extra=`
    are for machines (the JSON format); the message says what a person needs."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        line = f"{moment} {record.levelname:<7} {record.name}: {redact(record.getMessage())}"
        if rid := request_id():
            line += f" [request {rid}]"
        trace_id, _ = _span_ids(record)
        if trace_id:
            line += f" [trace {trace_id}]"
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + record.stack_info
        return line
