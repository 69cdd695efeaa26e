"""Auth migration 0004 (key rotation): token rows from before it are recorded as signed
by the one signing key there was, and by none (every key is kept for them) when there
were several."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from switchboard_auth.migrations import MIGRATIONS
from switchboard_auth.store.tables import api_tokens, signing_keys, users
from switchboard_core.db import create_engine
from switchboard_core.migrations import upgrade

NOW = datetime.now(UTC)


async def tokens_kids_after_upgrade(url: str, key_count: int) -> list[str | None]:
    await upgrade(url, MIGRATIONS, "0003")
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(users).values(
                    id="u1", email="a@example.com", password_hash="x", is_admin=False, created_at=NOW
                )
            )
            for n in range(key_count):
                await conn.execute(
                    insert(signing_keys).values(
                        kid=f"k{n}",
                        alg="ES256",
                        private_key_pem="-",
                        public_jwk="{}",
                        created_at=NOW,
                        active=True,
                    )
                )
            await conn.execute(
                insert(api_tokens).values(
                    jti="t1", user_id="u1", name="n", created_at=NOW, expires_at=NOW + timedelta(days=1)
                )
            )
        await upgrade(url, MIGRATIONS, "0004")
        async with engine.connect() as conn:
            return list((await conn.execute(select(api_tokens.c.kid))).scalars())
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("key_count", "expected"), [(1, ["k0"]), (2, [None])])
async def test_old_token_rows_get_the_single_keys_id_and_none_when_there_were_several(
    database_url: str, key_count: int, expected: list[str | None]
) -> None:
    assert await tokens_kids_after_upgrade(database_url, key_count) == expected
