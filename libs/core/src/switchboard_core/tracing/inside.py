"""Whether the code running now is part of a recorded trace."""

from __future__ import annotations

from opentelemetry import trace


def inside_a_trace() -> bool:
    """A recording span is current: a client span made now has a parent to join."""
    return trace.get_current_span().is_recording()
