"""What makes an incoming invocation record admissible, and how it is cleaned."""

from __future__ import annotations

import math

import pytest
from switchboard_metrics.domain.invocations import MAX_CALLER, MAX_ERROR, MAX_ID, Invocation, admit

NOW = 1_700_000_000_000
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def test_a_clean_record_is_admitted_unchanged() -> None:
    record = Invocation("echo", "s", "g", "c", 1.5, True, NOW - 10, "", TRACE, SPAN)
    assert admit(record, received_at_ms=NOW) is record


@pytest.mark.parametrize("duration", [math.nan, math.inf, -math.inf])
def test_a_record_with_a_duration_that_is_not_a_number_is_refused(duration: float) -> None:
    assert admit(Invocation("echo", duration_ms=duration, started_at_ms=NOW), received_at_ms=NOW) is None


def test_text_fields_are_clipped_to_their_columns() -> None:
    record = Invocation("t", server_id="s" * 500, gateway_id="g" * 500, caller="c" * 500, error="e" * 5000)
    kept = admit(record, received_at_ms=NOW)
    assert kept is not None
    assert (len(kept.server_id), len(kept.gateway_id), len(kept.caller), len(kept.error)) == (
        MAX_ID,
        MAX_ID,
        MAX_CALLER,
        MAX_ERROR,
    )


@pytest.mark.parametrize(
    ("trace_id", "span_id"),
    [("xyz", SPAN), (TRACE, "short"), ("0" * 32, SPAN), (TRACE, "0" * 16), (TRACE + "00", SPAN)],
)
def test_malformed_trace_context_is_dropped(trace_id: str, span_id: str) -> None:
    kept = admit(Invocation("t", started_at_ms=NOW, trace_id=trace_id, span_id=span_id), received_at_ms=NOW)
    assert kept is not None
    assert (kept.trace_id, kept.span_id, kept.traced) == ("", "", False)


def test_upper_case_trace_context_is_normalised() -> None:
    kept = admit(
        Invocation("t", started_at_ms=NOW, trace_id=TRACE.upper(), span_id=SPAN.upper()), received_at_ms=NOW
    )
    assert kept is not None
    assert (kept.trace_id, kept.span_id) == (TRACE, SPAN)
