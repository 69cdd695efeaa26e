"""Table definitions of the registry database."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from switchboard_core.db import new_metadata

metadata = new_metadata()


def _access() -> list[Column]:
    """Who owns a row and who may see it: "private" (its owner), "team" or "public".

    The server defaults only describe rows made before revision 0002 (public, as
    everything was then); every write names all three.
    """
    return [
        Column("owner_id", String(255), nullable=False, server_default=""),
        Column("team_id", String(36), nullable=False, server_default="", index=True),
        Column("visibility", String(8), nullable=False, server_default="public"),
    ]


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
    # The capabilities from the upstream's initialize result; catalogs carry them.
    Column("capabilities", JSON, nullable=False),
    # Health (see domain/health.py): "available" or "unavailable"; written only when it
    # changes. An unavailable gateway's items are left out of every catalog.
    Column("status", String(16), nullable=False, server_default="available"),
    # When a check (or a registration or refresh) last reached the upstream, as of the
    # last status change; and why the upstream was last found unreachable.
    Column("last_seen_ok_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    # The credentials the upstream requires, sealed (security/sealing.py, bound to the
    # id), and what of them may be shown: their type and non-secret fields. Null: none.
    Column("auth_sealed", Text, nullable=True),
    Column("auth_public", JSON, nullable=True),
    *_access(),
)


def _listed(name: str, key: str, key_type: String) -> Table:
    """What a gateway lists: one row per item, its key unique per gateway.

    `definition_json` is the upstream's whole object, served to clients with at most
    its name replaced.
    """
    return Table(
        name,
        metadata,
        Column("id", String(36), primary_key=True),
        Column("gateway_id", String(36), ForeignKey("gateways.id", ondelete="CASCADE"), nullable=False),
        Column(key, key_type, nullable=False, index=True),
        Column("definition_json", Text, nullable=False),
        # A gateway's items start with its access; each may then be narrowed (never widened).
        *_access(),
        UniqueConstraint("gateway_id", key, name=f"uq_{name}_gateway_{key}"),
    )


tools = _listed("tools", "name", String(255))
prompts = _listed("prompts", "name", String(255))
resources = _listed("resources", "uri", String(2048))
resource_templates = _listed("resource_templates", "uri_template", String(2048))

servers = Table(
    "servers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("description", Text, nullable=False),
    # How tool and prompt names are exposed: "prefix" or "bare", the prefix separator,
    # and per-item renames keyed by the reference the administrator gave.
    Column("naming_mode", String(8), nullable=False),
    Column("separator", String(5), nullable=False),
    Column("renames", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(255), nullable=False),
    *_access(),
)


def _link(name: str, item_column: str, target: str) -> Table:
    """What a virtual server chose, in the order it was given."""
    return Table(
        name,
        metadata,
        Column("server_id", String(36), ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True),
        Column(
            item_column,
            String(36),
            ForeignKey(f"{target}.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        ),
        Column("position", Integer, nullable=False),
    )


server_tools = _link("server_tools", "tool_id", "tools")
server_prompts = _link("server_prompts", "prompt_id", "prompts")
server_resources = _link("server_resources", "resource_id", "resources")
server_resource_templates = _link("server_resource_templates", "template_id", "resource_templates")
# Gateways included whole: whatever they list now and after each refresh.
server_gateways = _link("server_gateways", "gateway_id", "gateways")

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


# Audit records of admin changes (switchboard_core.audit), written in the transaction of
# the change and deleted once the auth service, which keeps the log, has them
# (domain/audit_outbox.py): a change is never committed without its record.
audit_outbox = Table(
    "audit_outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    # The serialized `switchboard.auth.v1.AuditRecord`.
    Column("record", LargeBinary, nullable=False),
    # Why auth refused the record (set aside: kept, never sent again); null while it waits.
    Column("refused", Text, nullable=True),
)
