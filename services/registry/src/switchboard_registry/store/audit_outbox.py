"""Queries on `audit_outbox`: add a record, take the oldest waiting, drop those
delivered, set aside those refused."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, select, update
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
    query = (
        select(audit_outbox.c.id, audit_outbox.c.record)
        .where(audit_outbox.c.refused.is_(None))
        .order_by(audit_outbox.c.created_at)
        .limit(limit)
    )
    return [(row.id, row.record) for row in await s.execute(query)]


async def drop(s: AsyncSession, ids: list[str]) -> None:
    await s.execute(delete(audit_outbox).where(audit_outbox.c.id.in_(ids)))


async def set_aside(s: AsyncSession, id_: str, why: str) -> None:
    # Without NUL, which Postgres text refuses: the reason quotes what auth was sent.
    refused = why.replace("\x00", "")[:1000]
    await s.execute(update(audit_outbox).where(audit_outbox.c.id == id_).values(refused=refused))


async def count(s: AsyncSession, *, refused: bool = False) -> int:
    """Records waiting to be delivered (or, `refused=True`, those set aside)."""
    where = audit_outbox.c.refused.is_not(None) if refused else audit_outbox.c.refused.is_(None)
    return (await s.execute(select(func.count()).select_from(audit_outbox).where(where))).scalar_one()


async def refused(s: AsyncSession) -> list[tuple[str, str]]:
    query = select(audit_outbox.c.id, audit_outbox.c.refused).where(audit_outbox.c.refused.is_not(None))
    return [(row.id, row.refused) for row in await s.execute(query.order_by(audit_outbox.c.created_at))]
