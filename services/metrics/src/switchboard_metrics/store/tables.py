"""Table definitions of the metrics database."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, Integer, String, Table, Text
from switchboard_core.db import new_metadata

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
