"""Authenticate over gRPC: a fresh token passes; every way a token can be wrong is
UNAUTHENTICATED with a reason that says which."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_decode, base64url_encode
from switchboard_auth.domain import key_material, signing_keys
from switchboard_auth.store.signing_keys import SigningKeyRow, insert_signing_key
from switchboard_core.db import create_engine, sessionmaker


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def segment(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64url_encode(raw).decode()


async def test_a_fresh_login_token_authenticates_as_its_user(auth):
    token = await auth.login()
    principal = await auth.authenticate(token)
    header, claims = jwt.get_unverified_header(token), claims_of(token)
    assert principal.email == "root@example.com"
    assert principal.is_admin
    assert principal.user_id == claims["sub"]
    assert principal.token_id == claims["jti"]
    assert principal.expires_at == claims["exp"]
    assert header["alg"] == "ES256" and header["kid"]
    assert claims["iss"] == claims["aud"] == "switchboard"
    assert claims["adm"] is True and claims["email"] == "root@example.com"
    assert claims["iat"] == claims["nbf"] <= time.time() < claims["exp"]


async def test_an_expired_token_is_rejected(auth):
    now = int(time.time())
    token = await auth.resigned(await auth.login(), iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    assert "expired" in await auth.rejection(token)


async def test_a_token_not_yet_valid_is_rejected(auth):
    token = await auth.resigned(await auth.login(), nbf=int(time.time()) + 3600)
    assert "not yet valid" in await auth.rejection(token)


async def test_a_token_for_another_audience_is_rejected(auth):
    token = await auth.resigned(await auth.login(), aud="someone-else")
    assert "audience" in await auth.rejection(token)


async def test_a_token_from_another_issuer_is_rejected(auth):
    token = await auth.resigned(await auth.login(), iss="https://evil.example")
    assert "issuer" in await auth.rejection(token)


async def test_a_token_with_a_flipped_signature_byte_is_rejected(auth):
    header, claims, signature = (await auth.login()).split(".")
    raw = bytearray(base64url_decode(signature))
    raw[10] ^= 0x01
    assert "signature" in await auth.rejection(f"{header}.{claims}.{segment(bytes(raw))}")


async def test_a_token_with_an_extended_expiry_but_the_old_signature_is_rejected(auth):
    token = await auth.login()
    header, _, signature = token.split(".")
    claims = claims_of(token)
    forged = segment({**claims, "exp": claims["exp"] + 365 * 86400})
    assert "signature" in await auth.rejection(f"{header}.{forged}.{signature}")


async def test_an_unsigned_alg_none_token_is_rejected(auth):
    claims = claims_of(await auth.login())
    assert "algorithm 'none'" in await auth.rejection(
        f"{segment({'alg': 'none', 'typ': 'JWT'})}.{segment(claims)}."
    )


async def test_an_hmac_token_keyed_with_the_public_jwk_is_rejected(auth):
    token = await auth.login()
    jwks = (await auth.http.get("/auth/jwks.json")).json()
    public_jwk = json.dumps(jwks["keys"][0]).encode()
    kid = jwt.get_unverified_header(token)["kid"]
    # PyJWT refuses to build this confusion attack, so it is built by hand.
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{segment(claims_of(token))}"
    mac = hmac.new(public_jwk, signing_input.encode(), hashlib.sha256).digest()
    assert "algorithm 'HS256'" in await auth.rejection(f"{signing_input}.{segment(mac)}")


async def test_a_token_signed_by_an_unknown_key_is_rejected(auth):
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = jwt.encode(
        claims_of(await auth.login()), stranger, algorithm="ES256", headers={"kid": "not-ours"}
    )
    assert "unknown key" in await auth.rejection(forged)


async def test_a_token_signed_by_an_unknown_key_under_our_kid_is_rejected(auth):
    token = await auth.login()
    stranger = ec.generate_private_key(ec.SECP256R1())
    kid = jwt.get_unverified_header(token)["kid"]
    forged = jwt.encode(claims_of(token), stranger, algorithm="ES256", headers={"kid": kid})
    assert "signature" in await auth.rejection(forged)


async def test_a_validly_signed_token_with_an_unknown_id_is_rejected(auth):
    token = await auth.resigned(await auth.login(), jti=str(uuid.uuid4()))
    assert "not known" in await auth.rejection(token)


async def test_a_validly_signed_token_whose_subject_does_not_own_its_id_is_rejected(auth):
    token = await auth.resigned(await auth.login(), sub=str(uuid.uuid4()))
    assert "not known" in await auth.rejection(token)


async def test_a_revoked_token_is_rejected_and_others_still_pass(auth):
    admin = await auth.login()
    victim = await auth.login()
    response = await auth.http.delete(
        f"/auth/tokens/{claims_of(victim)['jti']}", headers={"authorization": f"Bearer {admin}"}
    )
    assert response.status_code == 204
    assert "revoked" in await auth.rejection(victim)
    assert (await auth.authenticate(admin)).email == "root@example.com"


async def test_garbage_and_empty_tokens_are_rejected(auth):
    assert "malformed" in await auth.rejection("not.a.jwt")
    assert "no token" in await auth.rejection("")


async def test_a_key_that_another_replica_generated_is_picked_up_from_the_database(auth, monkeypatch):
    monkeypatch.setattr(signing_keys, "RELOAD_INTERVAL_S", 0.0)
    pair = key_material.generate("ES256")
    sealed = key_material.seal_private(auth.settings.sealing_keys(), pair.kid, pair.private_pem)
    row = SigningKeyRow(pair.kid, "ES256", sealed, json.dumps(pair.public_jwk), datetime.now(UTC), True)
    engine = create_engine(auth.settings.database_url)
    try:
        async with sessionmaker(engine).begin() as session:
            await insert_signing_key(session, row)
    finally:
        await engine.dispose()
    other_replicas_key = serialization.load_pem_private_key(pair.private_pem.encode(), password=None)

    token = jwt.encode(
        claims_of(await auth.login()), other_replicas_key, algorithm="ES256", headers={"kid": row.kid}
    )
    assert (await auth.authenticate(token)).email == "root@example.com"
    kids = [key["kid"] for key in (await auth.http.get("/auth/jwks.json")).json()["keys"]]
    assert row.kid in kids and len(kids) == 2
