"""The catalog revision: one counter raised inside every catalog-changing transaction."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from switchboard_registry.store.tables import catalog_revision

_ROW = 1


async def ensure(sessions: async_sessionmaker) -> None:
    """Create the counter row if this is a fresh database."""
    try:
        async with sessions.begin() as s:
            exists = await s.scalar(select(catalog_revision.c.id).where(catalog_revision.c.id == _ROW))
            if exists is None:
                await s.execute(insert(catalog_revision).values(id=_ROW, revision=0))
    except IntegrityError:
        pass  # another replica created it first


async def bump(s: AsyncSession) -> int:
    """Raise the revision; run it first in a write transaction so writers queue here."""
    result = await s.execute(
        update(catalog_revision)
        .where(catalog_revision.c.id == _ROW)
        .values(revision=catalog_revision.c.revision + 1)
        .returning(catalog_revision.c.revision)
    )
    return int(result.scalar_one())


async def current(s: AsyncSession) -> int:
    revision = await s.scalar(select(catalog_revision.c.revision).where(catalog_revision.c.id == _ROW))
    return int(revision or 0)
