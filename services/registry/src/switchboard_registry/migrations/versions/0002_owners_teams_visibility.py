"""Owners, teams and visibility: every gateway, server and listed item is private, team
or public, owned by a user and a team (see docs/identity.md).

Rows made before this revision become public, owned by whoever registered them (a
gateway's items by the gateway's registrant) and by no team: every signed-in user
still sees them, as before.

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

OWNED = ("gateways", "servers")
LISTED = ("tools", "prompts", "resources", "resource_templates")


def upgrade() -> None:
    for table in (*OWNED, *LISTED):
        op.add_column(table, sa.Column("owner_id", sa.String(255), nullable=False, server_default=""))
        op.add_column(table, sa.Column("team_id", sa.String(36), nullable=False, server_default=""))
        op.add_column(table, sa.Column("visibility", sa.String(8), nullable=False, server_default="public"))
        op.create_index(f"ix_{table}_team_id", table, ["team_id"])
    for table in OWNED:
        op.execute(f"UPDATE {table} SET owner_id = created_by")
    for table in LISTED:
        op.execute(
            f"UPDATE {table} SET owner_id = "
            f"(SELECT gateways.created_by FROM gateways WHERE gateways.id = {table}.gateway_id)"
        )


def downgrade() -> None:
    for table in reversed((*OWNED, *LISTED)):
        op.drop_index(f"ix_{table}_team_id", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("visibility")
            batch.drop_column("team_id")
            batch.drop_column("owner_id")
