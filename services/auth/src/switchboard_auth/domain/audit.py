"""The audit log: every admin change, this service's and the others', queryable by
administrators (`audit.read`).

This service's own changes are recorded by `record`, inside the transaction that makes
the change: the change and its record commit together or not at all, so no change is
reported done while its record is lost. Other services' records arrive over gRPC
(`ingest`), each with an id of its own so a retried delivery records nothing twice.
Refused attempts (outcome `denied`, see `switchboard_core.audit_refusals`) are written
on their own (`keep`): nothing changed for them to commit with.

Every record is redacted here, as it is written (`_append`): the log is the trust
boundary, so whatever a sender put in `changes`, no secret-named field is kept. It is
bounded here too (`switchboard_core.audit.bounded`), whatever the sender did, and a
record the database still cannot store is refused as invalid (`INVALID_ARGUMENT`), which
the sender sets aside, rather than failed as an internal error it would retry for ever.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.exc import DataError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from switchboard_core.audit import MAX_RECORD_BYTES, Actor, AuditEvent, bounded, redacted
from switchboard_core.errors import InvalidInput, PermissionDenied
from switchboard_core.policy import decide
from switchboard_core.principals import Principal

from switchboard_auth.store import audit as store
from switchboard_auth.store.audit import AuditFilter


@dataclass(frozen=True, slots=True)
class _Itself:
    user_id: str = ""
    email: str = "system (auth service)"
    token_id: str = ""


# Past this no datetime exists to store a record's time.
_YEAR_10000_MS = 253_402_300_800_000

# Who the log names for what the auth service does on its own (retiring spent keys).
SYSTEM = _Itself()


async def _append(session: AsyncSession, events: list[AuditEvent], max_bytes: int = MAX_RECORD_BYTES) -> None:
    await store.append(session, [bounded(replace(e, changes=redacted(e.changes)), max_bytes) for e in events])


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: str,
    changes: dict[str, Any] | None = None,
) -> None:
    """Record one change of this service's, in the transaction of `session`."""
    await _append(session, [AuditEvent.of(actor, action, entity_type, entity_id, changes, service="auth")])


class AuditLog:
    def __init__(self, sessions: async_sessionmaker, *, max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self._sessions = sessions
        self._max_record_bytes = max_record_bytes

    async def ingest(self, events: list[AuditEvent]) -> None:
        for event in events:
            if not (event.id and event.action and event.entity_type and event.at_ms > 0):
                raise InvalidInput(
                    f"audit record {event.id!r}: a record needs an id, an action, an entity type and a time"
                )
            if len(event.id) > store.MAX_ID:
                raise InvalidInput(
                    f"audit record {event.id[:40]!r}: an id is at most {store.MAX_ID} characters"
                )
            if event.at_ms >= _YEAR_10000_MS:
                raise InvalidInput(f"audit record {event.id!r}: its time is past the year 9999")
        try:
            async with self._sessions.begin() as session:
                await _append(session, events, self._max_record_bytes)
        except DataError as exc:
            # A value the database will not store, in one of these records: retrying
            # would fail alike for ever, so it is the sender's to set aside.
            raise InvalidInput(f"audit records the database cannot store: {exc.orig}") from exc

    async def keep(self, event: AuditEvent) -> None:
        """Record `event` in a transaction of its own (a refused attempt: nothing else to commit)."""
        async with self._sessions.begin() as session:
            await _append(session, [event], self._max_record_bytes)

    async def query(
        self, actor: Principal, where: AuditFilter, *, limit: int, offset: int
    ) -> list[AuditEvent]:
        decision = decide(actor, "audit.read")
        if not decision:
            raise PermissionDenied(decision.reason, permission="audit.read")
        if where.since is not None and where.until is not None and where.since >= where.until:
            raise InvalidInput("since must be before until")
        async with self._sessions() as session:
            return await store.newest_first(session, where, limit=limit, offset=offset)
