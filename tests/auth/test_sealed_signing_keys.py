"""Signing keys at rest: sealed with SWITCHBOARD_SECRET_KEYS (as upstream credentials
are), readable also when stored in clear, sealed again by `secrets rotate`, and never
stored without a key to seal them with."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr
from switchboard_auth import AuthSettings
from switchboard_auth.domain import key_material, signing_keys
from switchboard_auth.offline import reseal_keys
from switchboard_auth.startup import open_auth, sealing_keys
from switchboard_auth.store.signing_keys import SigningKeyRow, insert_signing_key, stored_private_keys
from switchboard_core.db import create_engine, sessionmaker
from switchboard_core.security.sealing import SealError, SecretKeys, new_key_entry


async def stored(settings: AuthSettings) -> dict[str, str]:
    engine = create_engine(settings.database_url)
    try:
        async with sessionmaker(engine)() as session:
            return dict(await stored_private_keys(session))
    finally:
        await engine.dispose()


async def test_a_key_stored_in_clear_still_verifies_and_rotation_seals_it(auth, monkeypatch):
    monkeypatch.setattr(signing_keys, "RELOAD_INTERVAL_S", 0.0)
    pair = key_material.generate("ES256")
    # As a replica of a version before sealing would have stored it.
    row = SigningKeyRow(
        pair.kid, "ES256", pair.private_pem, json.dumps(pair.public_jwk), datetime.now(UTC), True
    )
    engine = create_engine(auth.settings.database_url)
    try:
        async with sessionmaker(engine).begin() as session:
            await insert_signing_key(session, row)
    finally:
        await engine.dispose()
    claims = jwt.decode(await auth.login(), options={"verify_signature": False})
    key = serialization.load_pem_private_key(pair.private_pem.encode(), password=None)
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": pair.kid})
    assert (await auth.authenticate(token)).email == "root@example.com"

    done = await reseal_keys(auth.settings)
    assert (done.resealed, done.current, done.unopened) == (1, 1, {})
    keys = auth.settings.sealing_keys()
    assert all(
        value.startswith(f"v1:{keys.sealing_kid}:") for value in (await stored(auth.settings)).values()
    )
    assert (
        key_material.open_private(keys, pair.kid, (await stored(auth.settings))[pair.kid]) == pair.private_pem
    )


async def test_rotation_seals_every_key_with_the_new_first_key_and_the_old_one_can_go(auth_settings):
    opened = await open_auth(auth_settings)
    await opened.close()
    own = (auth_settings.data_dir / "secret.keys").read_text().strip()
    new = new_key_entry("new")
    rotating = auth_settings.model_copy(update={"secret_keys": SecretStr(f"{new},{own}")})

    first, again = await reseal_keys(rotating), await reseal_keys(rotating)
    assert (first.resealed, first.current) == (1, 0)
    assert (again.resealed, again.current) == (0, 1)

    only_new = auth_settings.model_copy(update={"secret_keys": SecretStr(new)})
    reopened = await open_auth(only_new)
    try:
        assert reopened.keys.signing().kid in {key["kid"] for key in reopened.keys.jwks()["keys"]}
    finally:
        await reopened.close()
    only_old = auth_settings.model_copy(update={"secret_keys": SecretStr(own)})
    with pytest.raises(SealError, match="'new'"):
        await open_auth(only_old)


def test_replicas_sharing_redis_need_a_sealing_key_for_stored_keys_but_not_for_hs256(tmp_path):
    apart = AuthSettings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(SealError, match="SWITCHBOARD_SECRET_KEYS is not set"):
        sealing_keys(apart)
    hs256 = apart.model_copy(update={"jwt_algorithm": "HS256"})
    assert sealing_keys(hs256) == SecretKeys()
    assert not (tmp_path / "secret.keys").exists()
