"""The audit log's record of one admin change: who, what, when, from where, outcome.

The auth service keeps the log (`switchboard_auth.domain.audit`); its own changes are
written in the transaction that makes them, other services' reach it over gRPC
(`AuthService.RecordAudit`). Where the request came from is per-call context: the
FastAPI dependency resolving the caller (`http.deps.current_principal`) sets it from
the request (the client address read as `SWITCHBOARD_TRUSTED_PROXIES` allows, the
user agent), and `AuditEvent.of` reads it.

`changes` summarises what changed, field by field; anything named like a secret
(passwords, tokens, keys) is reduced to `"<redacted>"` (`redacted`) wherever a record
is stored: by `AuditEvent.of` as a service makes it (a sender's outbox holds it at rest
until delivered, and must hold no secret either), and again by the auth service as it
writes the log, whoever sent the record: the log is the trust boundary, so no record in
it ever holds a secret and no sender has to be trusted to have removed one.

`outcome` is `success` for a change made, `denied` for an attempt refused (the caller
lacked a permission, the target was not theirs to see, a login failed); see
`audit_refusals`.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson
from switchboard.auth.v1 import auth_pb2

from switchboard_core.errors import InvalidInput

REDACTED = "<redacted>"
_SECRET_WORDS = ("password", "secret", "token", "key", "credential", "authorization")
SUCCESS = "success"
DENIED = "denied"


@dataclass(frozen=True, slots=True)
class Origin:
    client_ip: str = ""
    user_agent: str = ""


_UNKNOWN = Origin()
_ORIGIN: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "switchboard_audit_origin", default=None
)


def set_origin(origin: Origin) -> None:
    _ORIGIN.set(origin)


def current_origin() -> Origin:
    return _ORIGIN.get() or _UNKNOWN


class Actor(Protocol):
    user_id: str
    email: str
    token_id: str


def redacted(changes: dict[str, Any]) -> dict[str, Any]:
    """`changes` with the value of every secret-looking field replaced (nested too)."""
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if any(word in name.lower() for word in _SECRET_WORDS):
            clean[name] = REDACTED
        elif isinstance(value, dict):
            clean[name] = redacted(value)
        else:
            clean[name] = value
    return clean


def safe_url(url: str) -> str:
    """`url` without what may carry a credential: user info, query, fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return urlunsplit((parts.scheme, f"{host}:{port}" if port else host, parts.path, "", ""))


@dataclass(frozen=True, slots=True)
class AuditEvent:
    action: str  # `<entity type>.<verb>`: user.create, gateway.delete, ...
    entity_type: str
    entity_id: str
    actor_user_id: str
    actor_email: str
    actor_token_id: str
    changes: dict[str, Any] = field(default_factory=dict)
    client_ip: str = ""
    user_agent: str = ""
    outcome: str = SUCCESS
    service: str = ""
    at_ms: int = 0
    id: str = ""

    @classmethod
    def of(
        cls,
        actor: Actor,
        action: str,
        entity_type: str,
        entity_id: str,
        changes: dict[str, Any] | None = None,
        *,
        service: str,
        outcome: str = SUCCESS,
    ) -> AuditEvent:
        origin = current_origin()
        return cls(
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            actor_user_id=actor.user_id,
            actor_email=actor.email,
            actor_token_id=actor.token_id,
            changes=redacted(changes or {}),
            client_ip=origin.client_ip,
            user_agent=origin.user_agent[:500],
            outcome=outcome,
            service=service,
            at_ms=int(time.time() * 1000),
            id=str(uuid.uuid4()),
        )

    def to_proto(self) -> auth_pb2.AuditRecord:
        return auth_pb2.AuditRecord(
            id=self.id,
            at_ms=self.at_ms,
            service=self.service,
            actor_user_id=self.actor_user_id,
            actor_email=self.actor_email,
            actor_token_id=self.actor_token_id,
            action=self.action,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            changes_json=orjson.dumps(self.changes).decode(),
            client_ip=self.client_ip,
            user_agent=self.user_agent,
            outcome=self.outcome,
        )

    @classmethod
    def from_proto(cls, record: auth_pb2.AuditRecord) -> AuditEvent:
        try:
            changes = orjson.loads(record.changes_json) if record.changes_json else {}
        except orjson.JSONDecodeError:
            raise InvalidInput(f"audit record {record.id!r}: its changes are not JSON") from None
        return cls(
            action=record.action,
            entity_type=record.entity_type,
            entity_id=record.entity_id,
            actor_user_id=record.actor_user_id,
            actor_email=record.actor_email,
            actor_token_id=record.actor_token_id,
            changes=changes if isinstance(changes, dict) else {},
            client_ip=record.client_ip,
            user_agent=record.user_agent[:500],
            outcome=record.outcome or SUCCESS,
            service=record.service,
            at_ms=record.at_ms,
            id=record.id,
        )
