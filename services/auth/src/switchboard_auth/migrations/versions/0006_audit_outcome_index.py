"""The audit log queried by outcome: refused attempts (`denied`) are found without
reading every change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_outcome_at", "audit_log", ["outcome", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_outcome_at", table_name="audit_log")
