"""The auth service's tables: users, teams and their members, custom roles, API tokens
(every issued JWT), signing keys, the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from switchboard_core.db import new_metadata


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = new_metadata()

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Failed logins since the last good one; at the limit the account locks for a while.
    Column("failed_logins", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", UtcDateTime, nullable=True),
    Column("password_changed_at", UtcDateTime, nullable=True),
)

teams = Table(
    "teams",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    # The user whose personal team this is (every user has one), else NULL.
    Column("personal_of", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=True, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", String(36), ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # A built-in team role (switchboard_core.policy.TEAM_ROLES) or a custom role's name.
    Column("role", String(64), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("team_id", "user_id"),
    Index("ix_team_members_user", "user_id"),
)

# Custom roles; the built-in ones live in code (switchboard_core.policy.BUILTIN_ROLES).
roles = Table(
    "roles",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("description", String(500), nullable=False),
    # A JSON array of permission names.
    Column("permissions", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("jti", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    # What the token is limited to, each a JSON array ("[]": no limit): permission
    # names, virtual server ids, client networks (CIDR).
    Column("scopes", Text, nullable=False, server_default="[]"),
    Column("allowed_servers", Text, nullable=False, server_default="[]"),
    Column("allowed_cidrs", Text, nullable=False, server_default="[]"),
    # The signing key's id (NULL: issued before keys were recorded, by any key).
    Column("kid", String(64), nullable=True),
    Index("ix_api_tokens_user_created", "user_id", "created_at"),
    Index("ix_api_tokens_kid_expires", "kid", "expires_at"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    # The private key's PEM sealed with SWITCHBOARD_SECRET_KEYS, bound to `kid`
    # (domain/key_material.py); revision 0007 sealed those stored in clear before.
    Column("private_key_pem", Text, nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Published and verifying; False once retired.
    Column("active", Boolean, nullable=False),
    # When the key starts signing (NULL: from `created_at`): after relying parties have
    # had time to fetch it from the JWKS.
    Column("signs_from", UtcDateTime, nullable=True),
    Column("retired_at", UtcDateTime, nullable=True),
)

# Every admin change and refused attempt, of this service or reported by another (`domain.audit`). No
# foreign keys: a record outlives the user and the entity it names.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("service", String(32), nullable=False),
    Column("actor_user_id", String(36), nullable=False),
    Column("actor_email", String(320), nullable=False),
    Column("actor_token_id", String(36), nullable=False),
    Column("action", String(64), nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", String(200), nullable=False),
    # A JSON object: the changed fields, secrets redacted.
    Column("changes", Text, nullable=False),
    Column("client_ip", String(45), nullable=False),
    Column("user_agent", String(500), nullable=False),
    Column("outcome", String(32), nullable=False),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_actor_at", "actor_user_id", "at"),
    Index("ix_audit_log_entity_at", "entity_type", "entity_id", "at"),
    Index("ix_audit_log_outcome_at", "outcome", "at"),
)
