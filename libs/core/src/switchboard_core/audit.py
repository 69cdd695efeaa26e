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

A record is bounded (`bounded`): its `changes` fit in `SWITCHBOARD_AUDIT_RECORD_MAX_BYTES`
of JSON (64 KiB unless set) and its other fields in a few hundred characters each, so no
record, whatever a caller put in it, can outgrow a gRPC message or a column and hold
back the records behind it. A record cut down says so: `changes.truncated` is true and
`changes.size` is the size in bytes of the changes it was made with.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson
from switchboard.auth.v1 import auth_pb2

from switchboard_core.errors import InvalidInput

REDACTED = "<redacted>"
_SECRET_WORDS = ("password", "secret", "token", "key", "credential", "authorization")
SUCCESS = "success"
DENIED = "denied"
# The default bound of a record's `changes`, as JSON: far below a gRPC message (16 MiB),
# far above any change an administrator makes through a schema-checked API.
MAX_RECORD_BYTES = 64 * 1024
# Every other field of a record: ids, names, an email, a user agent; none is longer in use.
_MAX_FIELD_CHARS = 500
# The shortest a string of `changes` is cut to before the changes are given up as a whole.
_SHORTEST_CUT = 16


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


def bounded(event: AuditEvent, max_bytes: int = MAX_RECORD_BYTES) -> AuditEvent:
    """`event` as it may be kept and sent: its changes within `max_bytes` of JSON (marked
    `truncated`, with their `size`, when cut) and every other field within its bound."""
    fields = {
        name: value[:_MAX_FIELD_CHARS]
        for name in _TEXT_FIELDS
        if len(value := getattr(event, name)) > _MAX_FIELD_CHARS
    }
    size = len(orjson.dumps(event.changes))
    if size > max_bytes:
        fields["changes"] = _cut_to(event.changes, size, max_bytes)
    return replace(event, **fields) if fields else event


def _cut_to(changes: dict[str, Any], size: int, max_bytes: int) -> dict[str, Any]:
    """`changes` with long strings and lists shortened, halving until they fit; when even
    the shortest cut does not (a multitude of fields), only the marker and the field names."""
    longest = max_bytes // 4
    while longest >= _SHORTEST_CUT:
        cut = {**_shortened(changes, longest), "truncated": True, "size": size}
        if len(orjson.dumps(cut)) <= max_bytes:
            return cut
        longest //= 2
    names = [str(name)[:64] for name in list(changes)[: max_bytes // 256]]
    return {"truncated": True, "size": size, "fields": names}


def _shortened(value: Any, longest: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= longest else value[:longest] + "…"
    if isinstance(value, dict):
        items = list(value.items())[:longest]
        return {str(k)[:longest]: _shortened(v, longest) for k, v in items}
    if isinstance(value, list | tuple):
        return [_shortened(v, longest) for v in value[:longest]]
    return value


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


_TEXT_FIELDS = (
    "action",
    "entity_type",
    "entity_id",
    "actor_user_id",
    "actor_email",
    "actor_token_id",
    "client_ip",
    "user_agent",
    "outcome",
    "service",
)
