"""SWITCHBOARD_JWT_ALGORITHM: ES256 (default) or RS256 keys are generated and published;
HS256 signs with the secret from the environment and publishes nothing. Only the
configured algorithm verifies: a token of any other, HS256 keyed with a published
public key included, is refused."""

from __future__ import annotations

import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_encode
from pydantic import SecretStr, ValidationError
from switchboard_auth import AuthSettings
from switchboard_auth.domain.key_material import secret_kid

SECRET = "s" * 40
PREVIOUS = "p" * 40


def segment(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64url_encode(raw).decode()


def hs256(claims: dict, key: bytes, kid: str) -> str:
    """By hand: PyJWT refuses to key HMAC with anything that looks like a public key."""
    signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{segment(claims)}"
    return f"{signing_input}.{segment(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())}"


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


class TestRS256:
    @pytest.fixture
    def auth_settings(self, auth_settings: AuthSettings) -> AuthSettings:
        return auth_settings.model_copy(update={"jwt_algorithm": "RS256"})

    async def test_tokens_are_rs256_and_the_jwks_holds_the_rsa_key(self, auth):
        token = await auth.login()
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        (key,) = (await auth.http.get("/auth/jwks.json")).json()["keys"]
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and "d" not in key
        public = jwt.PyJWK(key).key
        assert jwt.decode(token, public, algorithms=["RS256"], audience="switchboard")["sub"]
        assert (await auth.authenticate(token)).is_admin

    async def test_an_hs256_token_keyed_with_the_public_pem_is_refused(self, auth):
        token = await auth.login()
        (key,) = (await auth.http.get("/auth/jwks.json")).json()["keys"]
        pem = jwt.PyJWK(key).key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        forged = hs256(claims_of(token), pem, key["kid"])
        assert "algorithm 'HS256'" in await auth.rejection(forged)

    async def test_an_es256_token_is_refused(self, auth):
        token = await auth.login()
        forged = jwt.encode(
            claims_of(token), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "x"}
        )
        assert "algorithm 'ES256'" in await auth.rejection(forged)

    async def test_rotation_makes_another_rsa_key(self, auth):
        admin = await auth.login()
        rotated = await auth.http.post(
            "/auth/keys/rotate", json={"publish_delay_s": 0}, headers={"authorization": f"Bearer {admin}"}
        )
        assert rotated.status_code == 201 and rotated.json()["alg"] == "RS256"
        assert jwt.get_unverified_header(await auth.login())["kid"] == rotated.json()["kid"]


class TestHS256:
    @pytest.fixture
    def auth_settings(self, auth_settings: AuthSettings) -> AuthSettings:
        return auth_settings.model_copy(
            update={"jwt_algorithm": "HS256", "jwt_secret": SecretStr(SECRET), "jwt_previous_secrets": []}
        )

    async def test_tokens_are_hs256_with_the_secret_and_nothing_is_published(self, auth):
        token = await auth.login()
        header = jwt.get_unverified_header(token)
        assert header["alg"] == "HS256" and SECRET not in header["kid"]
        assert jwt.decode(token, SECRET, algorithms=["HS256"], audience="switchboard")["sub"]
        assert (await auth.http.get("/auth/jwks.json")).json() == {"keys": []}
        assert (await auth.authenticate(token)).is_admin

    async def test_a_token_under_another_secret_is_refused(self, auth):
        token = await auth.login()
        forged = hs256(claims_of(token), b"x" * 40, jwt.get_unverified_header(token)["kid"])
        assert "signature" in await auth.rejection(forged)

    async def test_an_asymmetric_token_is_refused(self, auth):
        token = await auth.login()
        forged = jwt.encode(
            claims_of(token), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256", headers={"kid": "x"}
        )
        assert "algorithm 'ES256'" in await auth.rejection(forged)

    async def test_rotation_is_refused_with_a_pointer_to_the_environment(self, auth):
        admin = await auth.login()
        response = await auth.http.post("/auth/keys/rotate", headers={"authorization": f"Bearer {admin}"})
        assert response.status_code == 409 and "SWITCHBOARD_JWT_SECRET" in response.json()["detail"]


class TestHS256WithAPreviousSecret:
    @pytest.fixture
    def auth_settings(self, auth_settings: AuthSettings) -> AuthSettings:
        return auth_settings.model_copy(
            update={
                "jwt_algorithm": "HS256",
                "jwt_secret": SecretStr(SECRET),
                "jwt_previous_secrets": [SecretStr(PREVIOUS)],
            }
        )

    async def test_tokens_of_the_previous_secret_still_verify_and_new_ones_use_the_current(self, auth):
        token = await auth.login()
        assert jwt.get_unverified_header(token)["kid"] == secret_kid(SECRET.encode())
        old = jwt.encode(
            claims_of(token), PREVIOUS, algorithm="HS256", headers={"kid": secret_kid(PREVIOUS.encode())}
        )
        assert (await auth.authenticate(old)).is_admin


def test_hs256_without_a_long_enough_secret_refuses_to_start(monkeypatch):
    monkeypatch.setenv("SWITCHBOARD_JWT_ALGORITHM", "HS256")
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        AuthSettings()
    monkeypatch.setenv("SWITCHBOARD_JWT_SECRET", "short")
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        AuthSettings()
    monkeypatch.setenv("SWITCHBOARD_JWT_SECRET", SECRET)
    monkeypatch.setenv("SWITCHBOARD_JWT_PREVIOUS_SECRETS", f"{PREVIOUS},tiny")
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        AuthSettings()
    monkeypatch.setenv("SWITCHBOARD_JWT_PREVIOUS_SECRETS", PREVIOUS)
    assert AuthSettings().jwt_secrets() == (SECRET.encode(), PREVIOUS.encode())


def test_the_issuer_and_audience_default_to_the_public_url(monkeypatch):
    assert (AuthSettings().token_issuer, AuthSettings().token_audience) == ("switchboard", "switchboard")
    monkeypatch.setenv("SWITCHBOARD_PUBLIC_URL", "https://gw.example.com/ignored/path")
    settings = AuthSettings()
    assert settings.token_issuer == settings.token_audience == "https://gw.example.com"
    monkeypatch.setenv("SWITCHBOARD_TOKEN_AUDIENCE", "https://mcp.example.com")
    assert AuthSettings().token_audience == "https://mcp.example.com"
