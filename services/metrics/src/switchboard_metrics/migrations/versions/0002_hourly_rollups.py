"""Hourly rollups of the invocation records, and how far they have got.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The histogram's buckets as this revision made them (domain/histogram.py: 20 bounds, 21 buckets).
BUCKETS = 21


def upgrade() -> None:
    op.create_table(
        "invocation_rollups",
        sa.Column("hour_start", sa.BigInteger(), nullable=False),
        sa.Column("tool", sa.String(255), nullable=False),
        sa.Column("server_id", sa.String(128), nullable=False),
        sa.Column("gateway_id", sa.String(128), nullable=False),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("duration_sum_ms", sa.Float(), nullable=False),
        sa.Column("duration_min_ms", sa.Float(), nullable=False),
        sa.Column("duration_max_ms", sa.Float(), nullable=False),
        *(sa.Column(f"bucket_{i:02d}", sa.BigInteger(), nullable=False) for i in range(BUCKETS)),
        sa.PrimaryKeyConstraint(
            "hour_start", "tool", "server_id", "gateway_id", name="pk_invocation_rollups"
        ),
    )
    op.create_index("ix_invocation_rollups_tool_hour_start", "invocation_rollups", ["tool", "hour_start"])
    op.create_table(
        "rollup_progress",
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("rolled_until", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job", name="pk_rollup_progress"),
    )


def downgrade() -> None:
    op.drop_table("rollup_progress")
    op.drop_index("ix_invocation_rollups_tool_hour_start", table_name="invocation_rollups")
    op.drop_table("invocation_rollups")
