"""Queries on `audit_outbox`: add a record, take the oldest, drop those delivered."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from switchboard_core.audit import AuditEvent

from switchboard_registry.store.tables import audit_outbox


async def add(s: AsyncSession, event: AuditEvent) -> None:
    await s.execute(
        insert(audit_outbox).values(
            id=event.id,
            created_at=datetime.fromtimestamp(event.at_ms / 1000, UTC),
            record=event.to_proto().SerializeToString(),
        )
    )


async def oldest(s: AsyncSession, *, limit: int) -> list[tuple[str, bytes]]:
    query = select(audit_outbox.c.id, audit_outbox.c.record).order_by(audit_outbox.c.created_at).limit(limit)
    return [(row.id, row.record) for row in await s.execute(query)]


async def drop(s: AsyncSession, ids: list[str]) -> None:
    await s.execute(delete(audit_outbox).where(audit_outbox.c.id.in_(ids)))


async def count(s: AsyncSession) -> int:
    return len((await s.execute(select(audit_outbox.c.id))).all())
