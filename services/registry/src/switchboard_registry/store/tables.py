"""Table definitions of the registry database."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

gateways = Table(
    "gateways",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(32), nullable=False, unique=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("last_refreshed_at", DateTime(timezone=True), nullable=False),
    Column("server_info", JSON, nullable=False),
)

tools = Table(
    "tools",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("gateway_id", String(36), ForeignKey("gateways.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    # The upstream's whole Tool object, served to clients with only its name replaced.
    Column("definition_json", Text, nullable=False),
    UniqueConstraint("gateway_id", "name", name="uq_tools_gateway_name"),
)

servers = Table(
    "servers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("bare_names", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(255), nullable=False),
)

server_tools = Table(
    "server_tools",
    metadata,
    Column("server_id", String(36), ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True),
    Column("tool_id", String(36), ForeignKey("tools.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("position", Integer, nullable=False),
)

# One row: bumped by every transaction that changes the catalog, so readers can tell
# whether what they cached is current.
catalog_revision = Table(
    "catalog_revision",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("revision", BigInteger, nullable=False),
)


def utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything here is stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
