"""Auth migration 0007: signing keys stored in clear are sealed with the service's sealing
keys, each bound to its own key id; without a key to seal with, such a database is not
upgraded at all."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from switchboard_auth.domain import key_material
from switchboard_auth.migrations import MIGRATIONS
from switchboard_auth.store.tables import signing_keys
from switchboard_core.db import create_engine
from switchboard_core.migrations import current_revision, upgrade
from switchboard_core.security.sealing import SealError, SecretKeys, new_key_entry

KEYS = SecretKeys.parse(new_key_entry("k1"))


async def with_keys_in_clear(url: str, count: int) -> dict[str, str]:
    """A database at revision 0006 holding `count` keys in clear: their PEMs by kid."""
    await upgrade(url, MIGRATIONS, "0006")
    pairs = [key_material.generate("ES256") for _ in range(count)]
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for pair in pairs:
                await conn.execute(
                    insert(signing_keys).values(
                        kid=pair.kid,
                        alg="ES256",
                        private_key_pem=pair.private_pem,
                        public_jwk=json.dumps(pair.public_jwk),
                        created_at=datetime.now(UTC),
                        active=True,
                    )
                )
    finally:
        await engine.dispose()
    return {pair.kid: pair.private_pem for pair in pairs}


async def stored(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(signing_keys.c.kid, signing_keys.c.private_key_pem))
            return {row.kid: row.private_key_pem for row in rows}
    finally:
        await engine.dispose()


async def test_keys_in_clear_are_sealed_each_bound_to_its_own_kid(database_url: str) -> None:
    clear = await with_keys_in_clear(database_url, 2)
    await upgrade(database_url, MIGRATIONS, sealing_keys=KEYS)

    sealed = await stored(database_url)
    assert sealed.keys() == clear.keys()
    for kid, value in sealed.items():
        assert value.startswith("v1:k1:") and "PRIVATE KEY" not in value
        assert key_material.open_private(KEYS, kid, value) == clear[kid]
    first, second = sealed
    with pytest.raises(SealError):
        key_material.open_private(KEYS, second, sealed[first])


async def test_without_a_key_to_seal_with_keys_in_clear_keep_the_database_at_its_revision(
    database_url: str,
) -> None:
    clear = await with_keys_in_clear(database_url, 1)
    with pytest.raises(SealError, match="SWITCHBOARD_SECRET_KEYS"):
        await upgrade(database_url, MIGRATIONS, sealing_keys=SecretKeys())

    assert await current_revision(database_url, MIGRATIONS) == "0006"
    assert await stored(database_url) == clear


async def test_an_empty_database_needs_no_key_to_reach_the_head(database_url: str) -> None:
    await upgrade(database_url, MIGRATIONS)
    assert await current_revision(database_url, MIGRATIONS) in MIGRATIONS.heads()
