"""Queries on `signing_keys`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from switchboard_auth.store.tables import signing_keys


@dataclass(frozen=True, slots=True)
class SigningKeyRow:
    kid: str
    alg: str
    private_key_pem: str
    public_jwk: str
    created_at: datetime
    active: bool


_COLUMNS = (
    signing_keys.c.kid,
    signing_keys.c.alg,
    signing_keys.c.private_key_pem,
    signing_keys.c.public_jwk,
    signing_keys.c.created_at,
    signing_keys.c.active,
)


async def all_signing_keys(session: AsyncSession) -> list[SigningKeyRow]:
    rows = await session.execute(select(*_COLUMNS).order_by(signing_keys.c.created_at, signing_keys.c.kid))
    return [SigningKeyRow(*row) for row in rows]


async def insert_signing_key(session: AsyncSession, key: SigningKeyRow) -> None:
    await session.execute(
        insert(signing_keys).values(
            kid=key.kid,
            alg=key.alg,
            private_key_pem=key.private_key_pem,
            public_jwk=key.public_jwk,
            created_at=key.created_at,
            active=key.active,
        )
    )
