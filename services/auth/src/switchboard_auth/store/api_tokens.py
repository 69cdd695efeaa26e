"""Queries on `api_tokens`: one row per issued JWT, keyed by its `jti`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from switchboard_auth.store.tables import api_tokens, users


@dataclass(frozen=True, slots=True)
class TokenLimits:
    """What a token is limited to (see domain/token_limits.py); empty: no limit."""

    scopes: tuple[str, ...] = ()
    servers: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()


NO_LIMITS = TokenLimits()


@dataclass(frozen=True, slots=True)
class TokenRow:
    jti: str
    user_id: str
    name: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    limits: TokenLimits = NO_LIMITS
    # The signing key's id; None on rows from before keys were recorded.
    kid: str | None = None


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """What verifying a token needs to know about its row and its owner, in one lookup."""

    user_id: str
    email: str
    is_admin: bool
    revoked_at: datetime | None
    last_used_at: datetime | None
    limits: TokenLimits = NO_LIMITS


_LIMIT_COLUMNS = (api_tokens.c.scopes, api_tokens.c.allowed_servers, api_tokens.c.allowed_cidrs)
_COLUMNS = (
    api_tokens.c.jti,
    api_tokens.c.user_id,
    api_tokens.c.name,
    api_tokens.c.created_at,
    api_tokens.c.expires_at,
    api_tokens.c.revoked_at,
    api_tokens.c.last_used_at,
    *_LIMIT_COLUMNS,
)


def _limits(scopes: str, servers: str, cidrs: str) -> TokenLimits:
    return TokenLimits(tuple(orjson.loads(scopes)), tuple(orjson.loads(servers)), tuple(orjson.loads(cidrs)))


def _token_row(row) -> TokenRow:
    return TokenRow(*row[:7], limits=_limits(*row[7:]))


async def insert_token(session: AsyncSession, token: TokenRow) -> None:
    await session.execute(
        insert(api_tokens).values(
            jti=token.jti,
            user_id=token.user_id,
            name=token.name,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
            scopes=orjson.dumps(token.limits.scopes).decode(),
            allowed_servers=orjson.dumps(token.limits.servers).decode(),
            allowed_cidrs=orjson.dumps(token.limits.cidrs).decode(),
            kid=token.kid,
        )
    )


async def token_holder(session: AsyncSession, jti: str) -> TokenHolder | None:
    query = (
        select(
            users.c.id,
            users.c.email,
            users.c.is_admin,
            api_tokens.c.revoked_at,
            api_tokens.c.last_used_at,
            *_LIMIT_COLUMNS,
        )
        .select_from(api_tokens.join(users, users.c.id == api_tokens.c.user_id))
        .where(api_tokens.c.jti == jti)
    )
    row = (await session.execute(query)).first()
    return TokenHolder(*row[:5], limits=_limits(*row[5:])) if row else None


async def token_by_id(session: AsyncSession, jti: str) -> TokenRow | None:
    row = (await session.execute(select(*_COLUMNS).where(api_tokens.c.jti == jti))).first()
    return _token_row(row) if row else None


async def tokens_of(session: AsyncSession, user_id: str, *, limit: int, offset: int) -> list[TokenRow]:
    query = (
        select(*_COLUMNS)
        .where(api_tokens.c.user_id == user_id)
        .order_by(api_tokens.c.created_at.desc(), api_tokens.c.jti)
        .limit(limit)
        .offset(offset)
    )
    return [_token_row(row) for row in await session.execute(query)]


async def mark_revoked(session: AsyncSession, jti: str, at: datetime) -> None:
    await session.execute(
        update(api_tokens)
        .where(api_tokens.c.jti == jti, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def mark_used(session: AsyncSession, jti: str, at: datetime) -> None:
    await session.execute(update(api_tokens).where(api_tokens.c.jti == jti).values(last_used_at=at))


async def revoke_named(session: AsyncSession, user_id: str, name: str, at: datetime) -> list[str]:
    """Revokes every live token of the user's called `name`; their ids."""
    live = (
        (
            await session.execute(
                select(api_tokens.c.jti).where(
                    api_tokens.c.user_id == user_id,
                    api_tokens.c.name == name,
                    api_tokens.c.revoked_at.is_(None),
                )
            )
        )
        .scalars()
        .all()
    )
    if live:
        await session.execute(update(api_tokens).where(api_tokens.c.jti.in_(live)).values(revoked_at=at))
    return list(live)
