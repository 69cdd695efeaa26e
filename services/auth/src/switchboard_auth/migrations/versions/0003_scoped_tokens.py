"""Scoped API tokens: permissions, virtual servers and client networks a token is limited to.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LIMITS = ("scopes", "allowed_servers", "allowed_cidrs")


def upgrade() -> None:
    for name in _LIMITS:
        op.add_column("api_tokens", sa.Column(name, sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as api_tokens:
        for name in reversed(_LIMITS):
            api_tokens.drop_column(name)
