"""Upstream credentials: sealed at rest, with what of them may be shown.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("gateways", sa.Column("auth_sealed", sa.Text(), nullable=True))
    op.add_column("gateways", sa.Column("auth_public", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gateways") as batch:
        batch.drop_column("auth_public")
        batch.drop_column("auth_sealed")
