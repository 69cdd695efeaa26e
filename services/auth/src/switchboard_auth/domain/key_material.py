"""Key material per signing algorithm: ES256 (P-256) and RS256 (RSA 3072) key pairs,
generated here and kept in the database, their private halves sealed with the keys
that seal upstream credentials (`SWITCHBOARD_SECRET_KEYS`, security/sealing.py) and
bound to their key's id; HS256 secrets, which come from the environment only and are
never published.

A key's id is its RFC 7638 thumbprint (content-derived, so two replicas generating at
once cannot collide); an HS256 secret's id is an HMAC of a fixed label under the
secret, which names it without telling anything about it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from switchboard_core.security.sealing import SecretKeys

Algorithm = Literal["ES256", "RS256", "HS256"]
ASYMMETRIC: tuple[Algorithm, ...] = ("ES256", "RS256")
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: at least the hash's size
RSA_BITS = 3072
_PEM_START = "-----BEGIN"
# The JWK members a thumbprint covers, per key type (RFC 7638 §3.2).
_THUMBPRINTED = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}


@dataclass(frozen=True, slots=True)
class KeyPair:
    kid: str
    private_pem: str
    public_jwk: dict


def generate(alg: Algorithm) -> KeyPair:
    if alg == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
        jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    elif alg == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    else:
        raise ValueError(f"{alg} keys are not generated (HS256 secrets come from the environment)")
    kid = thumbprint(jwk)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return KeyPair(kid, pem, {**jwk, "kid": kid, "alg": alg, "use": "sig"})


def thumbprint(jwk: dict) -> str:
    canonical = json.dumps(
        {k: jwk[k] for k in _THUMBPRINTED[jwk["kty"]]}, separators=(",", ":"), sort_keys=True
    )
    return _b64(hashlib.sha256(canonical.encode()).digest())


def seal_private(keys: SecretKeys, kid: str, pem: str) -> str:
    """What is stored of a private key: its PEM sealed, opening only as the key `kid`."""
    return keys.seal(pem.encode(), bound_to=_sealed_as(kid))


def is_clear(stored: str) -> bool:
    """Whether a stored private key is a PEM in clear (written before keys were sealed)."""
    return stored.startswith(_PEM_START)


def open_private(keys: SecretKeys, kid: str, stored: str) -> str:
    """The PEM of a stored private key, sealed or (from before sealing) in clear;
    SealError when no listed key opens it."""
    if is_clear(stored):
        return stored
    return keys.unseal(stored, bound_to=_sealed_as(kid)).decode()


def _sealed_as(kid: str) -> str:
    # Its own namespace: a sealed key cannot be passed off as a gateway's credentials.
    return f"signing_key/{kid}"


def load_private(alg: str, pem: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """The private key of a stored row, checked to be of the kind its algorithm needs."""
    private_key = serialization.load_pem_private_key(pem.encode(), password=None)
    expected = {"ES256": ec.EllipticCurvePrivateKey, "RS256": rsa.RSAPrivateKey}.get(alg)
    if expected is None or not isinstance(private_key, expected):
        raise ValueError(f"a stored {alg} key holds a {type(private_key).__name__}")
    return private_key


def secret_kid(secret: bytes) -> str:
    return "hs-" + _b64(hmac.new(secret, b"switchboard signing key id", hashlib.sha256).digest()[:12])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
