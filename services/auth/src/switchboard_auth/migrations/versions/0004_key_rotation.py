"""Signing-key rotation: when a key starts signing and when it was retired, and which
key signed each token (so a key is retired only once every token it signed is over).

Rows of tokens issued before this revision get the signing key's id when there was
only one key; otherwise they stay NULL, and every key is kept for them until they expire.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("signing_keys", sa.Column("signs_from", sa.DateTime(timezone=True), nullable=True))
    op.add_column("signing_keys", sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("api_tokens", sa.Column("kid", sa.String(64), nullable=True))
    op.create_index("ix_api_tokens_kid_expires", "api_tokens", ["kid", "expires_at"])
    op.execute(
        "UPDATE api_tokens SET kid = (SELECT MIN(kid) FROM signing_keys) "
        "WHERE (SELECT COUNT(*) FROM signing_keys) = 1"
    )


def downgrade() -> None:
    op.drop_index("ix_api_tokens_kid_expires", table_name="api_tokens")
    with op.batch_alter_table("api_tokens") as api_tokens:
        api_tokens.drop_column("kid")
    with op.batch_alter_table("signing_keys") as signing_keys:
        signing_keys.drop_column("retired_at")
        signing_keys.drop_column("signs_from")
