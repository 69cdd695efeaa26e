"""Queries on `audit_log`: append (idempotent by id), and read newest first with filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import and_, insert, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.audit import AuditEvent

from switchboard_auth.store.tables import audit_log


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str = ""  # a user id or an email
    action: str = ""
    entity_type: str = ""
    entity_id: str = ""
    outcome: str = ""  # success or denied
    since: datetime | None = None
    until: datetime | None = None


MAX_ID: int = audit_log.c.id.type.length


def _fit(column: str, value: str) -> str:
    """`value` as the column can hold it: within its length, without NUL (which Postgres
    text refuses); what another service sent is stored, not refused, for these."""
    return value.replace("\x00", "")[: audit_log.c[column].type.length]


def _values(event: AuditEvent) -> dict:
    return {
        "id": event.id,
        "at": datetime.fromtimestamp(event.at_ms / 1000, UTC),
        "service": _fit("service", event.service),
        "actor_user_id": _fit("actor_user_id", event.actor_user_id),
        "actor_email": _fit("actor_email", event.actor_email),
        "actor_token_id": _fit("actor_token_id", event.actor_token_id),
        "action": _fit("action", event.action),
        "entity_type": _fit("entity_type", event.entity_type),
        "entity_id": _fit("entity_id", event.entity_id),
        "changes": orjson.dumps(event.changes).decode(),
        "client_ip": _fit("client_ip", event.client_ip),
        "user_agent": _fit("user_agent", event.user_agent),
        "outcome": _fit("outcome", event.outcome),
    }


async def append(session: AsyncSession, events: list[AuditEvent]) -> None:
    """Record `events`, skipping those already recorded (a retried delivery)."""
    if not events:
        return
    ids = [e.id for e in events]
    known = set((await session.execute(select(audit_log.c.id).where(audit_log.c.id.in_(ids)))).scalars())
    fresh = {e.id: e for e in events if e.id not in known}
    if fresh:
        await session.execute(insert(audit_log), [_values(e) for e in fresh.values()])


async def newest_first(
    session: AsyncSession, where: AuditFilter, *, limit: int, offset: int
) -> list[AuditEvent]:
    clauses = []
    if where.actor:
        clauses.append(or_(audit_log.c.actor_user_id == where.actor, audit_log.c.actor_email == where.actor))
    for column, value in (
        (audit_log.c.action, where.action),
        (audit_log.c.entity_type, where.entity_type),
        (audit_log.c.entity_id, where.entity_id),
        (audit_log.c.outcome, where.outcome),
    ):
        if value:
            clauses.append(column == value)
    if where.since is not None:
        clauses.append(audit_log.c.at >= where.since)
    if where.until is not None:
        clauses.append(audit_log.c.at < where.until)
    query = (
        select(audit_log)
        .where(and_(true(), *clauses))
        .order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_event(row) for row in (await session.execute(query)).mappings()]


def _event(row) -> AuditEvent:
    return AuditEvent(
        id=row["id"],
        at_ms=int(row["at"].timestamp() * 1000),
        service=row["service"],
        actor_user_id=row["actor_user_id"],
        actor_email=row["actor_email"],
        actor_token_id=row["actor_token_id"],
        action=row["action"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        changes=orjson.loads(row["changes"]),
        client_ip=row["client_ip"],
        user_agent=row["user_agent"],
        outcome=row["outcome"],
    )
