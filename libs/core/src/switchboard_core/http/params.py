"""Query parameters every list and query route shares, bounded at the edge.

An integer a client sends reaches SQL as a 64-bit one: unbounded, 2**63 fails there as
a 500. Each is bounded here, so anything past what real use needs is a 422 naming the
parameter (docs/limits.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, BeforeValidator

MAX_PAGE_SIZE = 500
# Far past any real listing (paging that deep should filter instead), far below 2**63.
MAX_OFFSET = 1_000_000_000
# An id, or a name, a listing or query is filtered by.
MAX_FILTER_LENGTH = 256
# The end of year 9999, in unix milliseconds.
MAX_TIMESTAMP_MS = 253_402_300_799_999

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")]
TimestampMs = Annotated[int | None, Query(ge=0, le=MAX_TIMESTAMP_MS, description="Unix milliseconds.")]
Filter = Annotated[str | None, Query(max_length=MAX_FILTER_LENGTH)]


def _written_out(value: object) -> object:
    # pydantic reads a number as unix seconds: `until=0.5` would be 1970.
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return value
    raise ValueError("a time is written out in ISO 8601, e.g. 2026-01-31T12:00:00Z")


def _in_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # a time without an offset is read as UTC
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:00-14:00 is past the last moment a datetime holds, in UTC.
        raise ValueError("the time is out of range in UTC") from None


# A point in time written out in ISO 8601, in UTC; a number, or one past the years 1 to
# 9999 there, is a 422.
Moment = Annotated[datetime | None, BeforeValidator(_written_out), AfterValidator(_in_utc)]
