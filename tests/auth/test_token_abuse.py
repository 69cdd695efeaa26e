"""Every way a bearer token can be bad, against a whole gateway (`switchboard up`) and on
each of its faces: an authenticated REST endpoint of the auth service and of the
registry, the MCP endpoint, and gRPC Authenticate. Each is refused: 401 with a Bearer
`error="invalid_token"` challenge on HTTP, UNAUTHENTICATED on gRPC.

Forged tokens are signed with the gateway's own key where the point is a bad claim
(read from its database, as someone who stole it would), with a foreign key where the
point is the key. A rotation keeps old tokens good until their key is retired."""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.utils import base64url_decode, base64url_encode
from switchboard.auth.v1 import auth_pb2, auth_pb2_grpc
from switchboard_auth.domain import key_material
from switchboard_core.security.sealing import embedded_keys
from switchboard_testing.gateway_process import GatewayProcess, start_gateway
from switchboard_testing.internal import INTERNAL_ENV, INTERNAL_METADATA

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "abuse", "version": "0"},
    },
}


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    # Given the internal token, so that the test may call Authenticate as a peer would.
    with start_gateway(INTERNAL_ENV) as process:
        yield process


@pytest.fixture(scope="module")
def admin(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    token = gateway.mint_token()
    with httpx.Client(
        base_url=gateway.base_url, headers={"authorization": f"Bearer {token}"}, timeout=30
    ) as c:
        yield c


@pytest.fixture(scope="module")
def stub(gateway: GatewayProcess) -> Iterator[auth_pb2_grpc.AuthServiceStub]:
    with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
        yield auth_pb2_grpc.AuthServiceStub(channel)


def segment(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64url_encode(raw).decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@dataclass
class Forge:
    """A fresh valid token of a user's, and the gateway's signing key to forge with."""

    token: str
    kid: str
    key: ec.EllipticCurvePrivateKey

    @property
    def claims(self) -> dict:
        return claims_of(self.token)

    def signed(self, claims: dict, *, key=None, kid: str | None = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="ES256", headers={"kid": kid or self.kid})

    def changed(self, **changes) -> str:
        return self.signed({**self.claims, **changes})

    def without(self, claim: str) -> str:
        return self.signed({k: v for k, v in self.claims.items() if k != claim})

    def hs256(self, secret: bytes) -> str:
        signing_input = f"{segment({'alg': 'HS256', 'typ': 'JWT', 'kid': self.kid})}.{segment(self.claims)}"
        return f"{signing_input}.{segment(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def signing_key(gateway: GatewayProcess) -> tuple[str, ec.EllipticCurvePrivateKey]:
    """The active key, as someone holding both auth.db and the sealing key would have it."""
    with sqlite3.connect(gateway.data_dir / "auth.db") as db:
        kid, sealed = db.execute(
            "SELECT kid, private_key_pem FROM signing_keys WHERE active ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    pem = key_material.open_private(embedded_keys(gateway.data_dir), kid, sealed)
    return kid, serialization.load_pem_private_key(pem.encode(), password=None)


def new_user(admin: httpx.Client) -> tuple[str, str]:
    """A new user and a login token of theirs: (user id, token)."""
    email, password = f"{uuid.uuid4().hex[:12]}@example.com", "a long enough password"
    created = admin.post("/auth/users", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    login = httpx.post(admin.base_url.join("/auth/login"), json={"email": email, "password": password})
    return created.json()["id"], login.json()["access_token"]


@pytest.fixture
def forge(gateway: GatewayProcess, admin: httpx.Client) -> Forge:
    _user, token = new_user(admin)
    kid, key = signing_key(gateway)
    assert jwt.get_unverified_header(token)["kid"] == kid
    return Forge(token, kid, key)


def flipped_signature(token: str) -> str:
    header, claims, signature = token.split(".")
    raw = bytearray(base64url_decode(signature))
    raw[5] ^= 0x01
    return f"{header}.{claims}.{segment(bytes(raw))}"


def old_signature_longer_expiry(token: str) -> str:
    header, _claims, signature = token.split(".")
    claims = claims_of(token)
    return f"{header}.{segment({**claims, 'exp': claims['exp'] + 365 * 86400, 'adm': True})}.{signature}"


NOW = int(time.time())
FORGERIES: dict[str, Callable[[Forge], str]] = {
    "alg none": lambda f: f"{segment({'alg': 'none', 'typ': 'JWT', 'kid': f.kid})}.{segment(f.claims)}.",
    "HS256 keyed with the public key (PEM)": lambda f: f.hs256(f.public_pem()),
    "HS256 keyed with the public key (JWK)": lambda f: f.hs256(
        json.dumps(jwt.algorithms.ECAlgorithm.to_jwk(f.key.public_key(), as_dict=True)).encode()
    ),
    "a foreign key under our kid": lambda f: f.signed(f.claims, key=ec.generate_private_key(ec.SECP256R1())),
    "a foreign key under an unknown kid": lambda f: f.signed(
        f.claims, key=ec.generate_private_key(ec.SECP256R1()), kid="someone-elses"
    ),
    "no kid": lambda f: jwt.encode(f.claims, f.key, algorithm="ES256"),
    "wrong audience": lambda f: f.changed(aud="https://another-resource.example"),
    "wrong issuer": lambda f: f.changed(iss="https://evil.example"),
    "expired": lambda f: f.changed(iat=NOW - 7200, nbf=NOW - 7200, exp=NOW - 3600),
    "nbf in the future": lambda f: f.changed(nbf=NOW + 3600),
    "iat in the future beyond the leeway": lambda f: f.changed(iat=NOW + 3600),
    "an id the issuer never issued": lambda f: f.changed(jti=str(uuid.uuid4())),
    "another subject under a real id": lambda f: f.changed(sub=str(uuid.uuid4())),
    **{
        f"no {claim}": (lambda f, c=claim: f.without(c))
        for claim in ("sub", "jti", "exp", "iat", "nbf", "iss", "aud")
    },
    "a flipped signature bit": lambda f: flipped_signature(f.token),
    "a tampered payload under the old signature": lambda f: old_signature_longer_expiry(f.token),
    "garbage": lambda f: "garbage",
    "three garbage segments": lambda f: "a.b.c",
    "a token with a trailing segment": lambda f: f.token + ".extra",
}


def http_refusal(response: httpx.Response) -> str | None:
    """What is wrong with this answer to a bad token, or None if it is the right refusal."""
    challenge = response.headers.get("www-authenticate", "")
    if response.status_code != 401:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    if not challenge.startswith("Bearer ") or 'error="invalid_token"' not in challenge:
        return f"challenge {challenge!r}"
    return None


def problems(gateway: GatewayProcess, stub, token: str) -> dict[str, str]:
    """Each face that did not refuse the token as it should, with what it did instead."""
    bearer = {"authorization": f"Bearer {token}"}
    found = {}
    for face, response in (
        ("REST /auth/me", httpx.get(gateway.base_url + "/auth/me", headers=bearer)),
        ("REST /gateways", httpx.get(gateway.base_url + "/gateways", headers=bearer)),
        (
            "MCP /mcp",
            httpx.post(
                gateway.base_url + "/mcp",
                json=INITIALIZE,
                headers={**bearer, "accept": "application/json, text/event-stream"},
            ),
        ),
    ):
        if (problem := http_refusal(response)) is not None:
            found[face] = problem
    try:
        stub.Authenticate(auth_pb2.AuthenticateRequest(token=token), timeout=10, metadata=INTERNAL_METADATA)
        found["gRPC Authenticate"] = "accepted"
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
            found["gRPC Authenticate"] = f"{exc.code()}: {exc.details()}"
    return found


def accepted_everywhere(gateway: GatewayProcess, stub, token: str) -> bool:
    bearer = {"authorization": f"Bearer {token}"}
    return (
        httpx.get(gateway.base_url + "/auth/me", headers=bearer).status_code == 200
        and httpx.get(gateway.base_url + "/gateways", headers=bearer).status_code == 200
        and stub.Authenticate(
            auth_pb2.AuthenticateRequest(token=token), timeout=10, metadata=INTERNAL_METADATA
        ).principal.user_id
        != ""
    )


def test_the_genuine_token_the_forgeries_start_from_is_accepted_on_every_face(gateway, stub, forge) -> None:
    assert accepted_everywhere(gateway, stub, forge.token)
    response = httpx.post(
        gateway.base_url + "/mcp",
        json=INITIALIZE,
        headers={"authorization": f"Bearer {forge.token}", "accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("case", list(FORGERIES))
def test_a_forged_or_broken_token_is_refused_on_every_face(gateway, stub, forge, case: str) -> None:
    assert problems(gateway, stub, FORGERIES[case](forge)) == {}


def test_a_bearer_without_a_token_is_refused_on_every_http_face(gateway) -> None:
    for path in ("/auth/me", "/gateways"):
        assert http_refusal(httpx.get(gateway.base_url + path, headers={"authorization": "Bearer"})) is None


# -- tokens that were good -----------------------------------------------------------


def refused_soon(gateway: GatewayProcess, stub, token: str) -> None:
    """Refused on every face within seconds (principal caches hear of it over the feed)."""
    deadline = time.monotonic() + 5
    while (found := problems(gateway, stub, token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found == {}


def test_a_revoked_token_is_refused_on_every_face(gateway, stub, admin) -> None:
    _user, token = new_user(admin)
    assert accepted_everywhere(gateway, stub, token)
    assert admin.delete(f"/auth/tokens/{claims_of(token)['jti']}").status_code == 204
    refused_soon(gateway, stub, token)


def test_a_users_logins_ended_by_a_password_reset_are_refused_on_every_face(gateway, stub, admin) -> None:
    user_id, token = new_user(admin)
    assert accepted_everywhere(gateway, stub, token)
    reset = admin.patch(f"/auth/users/{user_id}", json={"password": "another long password"})
    assert reset.status_code == 200, reset.text
    refused_soon(gateway, stub, token)


def test_a_deleted_users_token_is_refused_on_every_face(gateway, stub, admin) -> None:
    user_id, token = new_user(admin)
    assert accepted_everywhere(gateway, stub, token)
    assert admin.delete(f"/auth/users/{user_id}").status_code == 204
    refused_soon(gateway, stub, token)


# -- rotation --------------------------------------------------------------------------


def test_after_a_rotation_old_tokens_work_until_their_key_is_retired(gateway, stub, admin) -> None:
    _user, old_token = new_user(admin)
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    rotated = admin.post("/auth/keys/rotate", json={"publish_delay_s": 0})
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]

    _user, new_token = new_user(admin)
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid
    assert accepted_everywhere(gateway, stub, old_token) and accepted_everywhere(gateway, stub, new_token)
    published = {key["kid"] for key in httpx.get(gateway.base_url + "/auth/jwks.json").json()["keys"]}
    assert {old_kid, new_kid} <= published

    assert admin.post(f"/auth/keys/{old_kid}/retire").status_code == 204
    published = {key["kid"] for key in httpx.get(gateway.base_url + "/auth/jwks.json").json()["keys"]}
    assert old_kid not in published and new_kid in published
    refused_soon(gateway, stub, old_token)
    assert accepted_everywhere(gateway, stub, new_token)
