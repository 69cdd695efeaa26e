"""The registry schema as it stood when migrations began: gateways and what they
list, virtual servers and what they chose, the catalog revision.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# What a gateway lists (table, key column, key length) and what a server may choose
# (link table, item column, target table); written out here, not imported from the
# tables, so this revision stays what it was when the tables change.
LISTED = [
    ("tools", "name", 255),
    ("prompts", "name", 255),
    ("resources", "uri", 2048),
    ("resource_templates", "uri_template", 2048),
]
LINKS = [
    ("server_tools", "tool_id", "tools"),
    ("server_prompts", "prompt_id", "prompts"),
    ("server_resources", "resource_id", "resources"),
    ("server_resource_templates", "template_id", "resource_templates"),
    ("server_gateways", "gateway_id", "gateways"),
]


def upgrade() -> None:
    op.create_table(
        "gateways",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("last_refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("server_info", sa.JSON(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), server_default="available", nullable=False),
        sa.Column("last_seen_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_gateways"),
        sa.UniqueConstraint("name", name="uq_gateways_name"),
        sa.UniqueConstraint("url", name="uq_gateways_url"),
    )
    for table, key, length in LISTED:
        op.create_table(
            table,
            sa.Column("id", sa.String(36), nullable=False),
            sa.Column("gateway_id", sa.String(36), nullable=False),
            sa.Column(key, sa.String(length), nullable=False),
            sa.Column("definition_json", sa.Text(), nullable=False),
            sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
            sa.ForeignKeyConstraint(
                ["gateway_id"], ["gateways.id"], name=f"fk_{table}_gateway_id_gateways", ondelete="CASCADE"
            ),
            sa.UniqueConstraint("gateway_id", key, name=f"uq_{table}_gateway_{key}"),
        )
        op.create_index(f"ix_{table}_{key}", table, [key])
    op.create_table(
        "servers",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("naming_mode", sa.String(8), nullable=False),
        sa.Column("separator", sa.String(5), nullable=False),
        sa.Column("renames", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_servers"),
        sa.UniqueConstraint("name", name="uq_servers_name"),
    )
    for table, item, target in LINKS:
        op.create_table(
            table,
            sa.Column("server_id", sa.String(36), nullable=False),
            sa.Column(item, sa.String(36), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("server_id", item, name=f"pk_{table}"),
            sa.ForeignKeyConstraint(
                ["server_id"], ["servers.id"], name=f"fk_{table}_server_id_servers", ondelete="CASCADE"
            ),
            sa.ForeignKeyConstraint(
                [item], [f"{target}.id"], name=f"fk_{table}_{item}_{target}", ondelete="CASCADE"
            ),
        )
        op.create_index(f"ix_{table}_{item}", table, [item])
    op.create_table(
        "catalog_revision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_revision"),
    )


def downgrade() -> None:
    op.drop_table("catalog_revision")
    for table, item, _target in reversed(LINKS):
        op.drop_index(f"ix_{table}_{item}", table_name=table)
        op.drop_table(table)
    op.drop_table("servers")
    for table, key, _length in reversed(LISTED):
        op.drop_index(f"ix_{table}_{key}", table_name=table)
        op.drop_table(table)
    op.drop_table("gateways")
