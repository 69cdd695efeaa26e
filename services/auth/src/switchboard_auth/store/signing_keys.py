"""Queries on `signing_keys`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from switchboard_auth.store.tables import api_tokens, signing_keys


@dataclass(frozen=True, slots=True)
class SigningKeyRow:
    kid: str
    alg: str
    # Sealed (domain/key_material.py); a clear PEM only in rows older than revision 0007.
    private_key_pem: str
    public_jwk: str
    created_at: datetime
    # Published and verifying (False once retired).
    active: bool
    signs_from: datetime | None = None
    retired_at: datetime | None = None

    @property
    def signing_from(self) -> datetime:
        return self.signs_from or self.created_at


_COLUMNS = (
    signing_keys.c.kid,
    signing_keys.c.alg,
    signing_keys.c.private_key_pem,
    signing_keys.c.public_jwk,
    signing_keys.c.created_at,
    signing_keys.c.active,
    signing_keys.c.signs_from,
    signing_keys.c.retired_at,
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
            signs_from=key.signs_from,
            retired_at=key.retired_at,
        )
    )


async def mark_retired(session: AsyncSession, kid: str, at: datetime) -> bool:
    """False when the key was retired already (or does not exist)."""
    result = await session.execute(
        update(signing_keys)
        .where(signing_keys.c.kid == kid, signing_keys.c.active.is_(True))
        .values(active=False, retired_at=at)
    )
    return result.rowcount > 0


async def signed_tokens_live(session: AsyncSession, kid: str, now: datetime) -> bool:
    """Whether a token the key signed (or that no key is recorded for) is still unexpired
    and unrevoked."""
    query = (
        select(api_tokens.c.jti)
        .where(
            or_(api_tokens.c.kid == kid, api_tokens.c.kid.is_(None)),
            api_tokens.c.expires_at > now,
            api_tokens.c.revoked_at.is_(None),
        )
        .limit(1)
    )
    return (await session.execute(query)).first() is not None


async def stored_private_keys(session: AsyncSession) -> list[tuple[str, str]]:
    """(kid, stored private key) of every key, retired ones too."""
    query = select(signing_keys.c.kid, signing_keys.c.private_key_pem).order_by(signing_keys.c.kid)
    return [(row.kid, row.private_key_pem) for row in await session.execute(query)]


async def reseal_private_key(session: AsyncSession, kid: str, *, was: str, now: str) -> bool:
    """Replace the stored private key if it is still `was` (nobody re-sealed it meanwhile)."""
    result = await session.execute(
        update(signing_keys)
        .where(signing_keys.c.kid == kid, signing_keys.c.private_key_pem == was)
        .values(private_key_pem=now)
    )
    return result.rowcount > 0
