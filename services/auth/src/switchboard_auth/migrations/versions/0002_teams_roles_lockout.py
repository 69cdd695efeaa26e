"""Teams with members and roles, custom roles, login lockout and password changes.

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


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("failed_logins", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column("users", sa.Column("locked_until", _utc(), nullable=True))
    op.add_column("users", sa.Column("password_changed_at", _utc(), nullable=True))
    op.create_table(
        "teams",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("personal_of", sa.String(36), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        sa.UniqueConstraint("name", name="uq_teams_name"),
        sa.UniqueConstraint("personal_of", name="uq_teams_personal_of"),
        sa.ForeignKeyConstraint(
            ["personal_of"], ["users.id"], name="fk_teams_personal_of_users", ondelete="CASCADE"
        ),
    )
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.String(36), nullable=False),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("added_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id", name="pk_team_members"),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name="fk_team_members_team_id_teams", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_team_members_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_team_members_user", "team_members", ["user_id"])
    op.create_table(
        "roles",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_roles"),
    )


def downgrade() -> None:
    op.drop_table("roles")
    op.drop_index("ix_team_members_user", table_name="team_members")
    op.drop_table("team_members")
    op.drop_table("teams")
    with op.batch_alter_table("users") as users:
        users.drop_column("password_changed_at")
        users.drop_column("locked_until")
        users.drop_column("failed_logins")
