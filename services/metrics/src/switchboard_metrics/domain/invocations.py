"""One tool invocation as the metrics service keeps it, and what makes a record admissible.

Records come from other processes, so every field is checked here once: text is clipped
to the column widths and loses any NUL (which Postgres text refuses: one would fail its
whole batch, sent again and failing again), a record without a tool or with a non-finite
duration is refused,
and trace ids that are not W3C hex are dropped rather than stored wrong.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, replace

MAX_TOOL = 255
MAX_ID = 128
MAX_CALLER = 255
MAX_ERROR = 2000

_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_NO_TRACE = "0" * 32
_NO_SPAN = "0" * 16


@dataclass(frozen=True, slots=True)
class Invocation:
    tool: str
    server_id: str = ""
    gateway_id: str = ""
    caller: str = ""
    duration_ms: float = 0.0
    success: bool = True
    # Unix milliseconds when the call started; 0 means "unknown" (admission uses receipt time).
    started_at_ms: int = 0
    error: str = ""
    # W3C trace context of the call, lower-case hex, empty when the call was not traced.
    trace_id: str = ""
    span_id: str = ""

    @property
    def traced(self) -> bool:
        return bool(self.trace_id and self.span_id)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def admit(record: Invocation, *, received_at_ms: int) -> Invocation | None:
    """The record as it will be stored, or None when it cannot be stored at all."""
    if not record.tool or not math.isfinite(record.duration_ms):
        return None
    changes: dict = {}
    for name, limit in (
        ("tool", MAX_TOOL),
        ("server_id", MAX_ID),
        ("gateway_id", MAX_ID),
        ("caller", MAX_CALLER),
        ("error", MAX_ERROR),
    ):
        value = getattr(record, name)
        if "\x00" in value:
            value = changes[name] = value.replace("\x00", "")
        if len(value) > limit:
            changes[name] = value[:limit]
    if record.duration_ms < 0:
        changes["duration_ms"] = 0.0
    if record.started_at_ms <= 0:
        changes["started_at_ms"] = received_at_ms
    if record.trace_id or record.span_id:
        trace_id, span_id = record.trace_id.lower(), record.span_id.lower()
        if _valid_trace(trace_id, span_id):
            if (trace_id, span_id) != (record.trace_id, record.span_id):
                changes["trace_id"], changes["span_id"] = trace_id, span_id
        else:
            changes["trace_id"] = changes["span_id"] = ""
    return replace(record, **changes) if changes else record


def _valid_trace(trace_id: str, span_id: str) -> bool:
    return (
        _TRACE_ID.fullmatch(trace_id) is not None
        and trace_id != _NO_TRACE
        and (span_id == "" or (_SPAN_ID.fullmatch(span_id) is not None and span_id != _NO_SPAN))
    )
