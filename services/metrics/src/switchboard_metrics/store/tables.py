"""Table definitions of the metrics database."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from switchboard_core.db import new_metadata

from switchboard_metrics.domain.histogram import BUCKETS
from switchboard_metrics.domain.invocations import MAX_CALLER, MAX_ID, MAX_TOOL

metadata = new_metadata()

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_ID = BigInteger().with_variant(Integer(), "sqlite")

invocations = Table(
    "invocations",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("tool", String(MAX_TOOL), nullable=False),
    Column("server_id", String(MAX_ID), nullable=False, default=""),
    Column("gateway_id", String(MAX_ID), nullable=False, default=""),
    Column("caller", String(MAX_CALLER), nullable=False, default=""),
    Column("duration_ms", Float(), nullable=False),
    Column("success", Boolean(), nullable=False),
    # Unix milliseconds when the call started.
    Column("started_at", BigInteger(), nullable=False),
    Column("error", Text(), nullable=False, default=""),
    Column("trace_id", String(32), nullable=False, default=""),
    Index("ix_invocations_started_at", "started_at"),
)

# Columns of the latency histogram, bucket i of `domain.histogram.BOUNDS_MS` in bucket_<i>.
BUCKET_COLUMNS = tuple(f"bucket_{i:02d}" for i in range(BUCKETS))

# One row per hour × tool × server × gateway that had calls (see domain/rollups.py).
invocation_rollups = Table(
    "invocation_rollups",
    metadata,
    # Unix milliseconds when the hour began.
    Column("hour_start", BigInteger(), nullable=False),
    Column("tool", String(MAX_TOOL), nullable=False),
    Column("server_id", String(MAX_ID), nullable=False),
    Column("gateway_id", String(MAX_ID), nullable=False),
    Column("calls", BigInteger(), nullable=False),
    Column("errors", BigInteger(), nullable=False),
    Column("duration_sum_ms", Float(), nullable=False),
    Column("duration_min_ms", Float(), nullable=False),
    Column("duration_max_ms", Float(), nullable=False),
    *(Column(name, BigInteger(), nullable=False) for name in BUCKET_COLUMNS),
    PrimaryKeyConstraint("hour_start", "tool", "server_id", "gateway_id"),
    Index("ix_invocation_rollups_tool_hour_start", "tool", "hour_start"),
)

# How far the rollups have got: every hour before `rolled_until` is rolled up.
rollup_progress = Table(
    "rollup_progress",
    metadata,
    Column("job", String(64), primary_key=True),
    Column("rolled_until", BigInteger(), nullable=False),
)
