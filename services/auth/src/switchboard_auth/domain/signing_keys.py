"""ES256 signing keys: generated when none is active, published as a JWKS.

Every auth replica loads all keys from its database; a token naming a key this
replica has not seen (another replica generated it) triggers one reload, rate-limited
so forged `kid`s cannot turn into a query per request.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy.ext.asyncio import async_sessionmaker

from switchboard_auth.store.signing_keys import SigningKeyRow, all_signing_keys, insert_signing_key

ALGORITHM = "ES256"
RELOAD_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey
    public_key: ec.EllipticCurvePublicKey
    public_jwk: dict
    active: bool


def new_signing_key_row(now: datetime) -> SigningKeyRow:
    private_key = ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    kid = _thumbprint(jwk)
    public_jwk = {**jwk, "kid": kid, "alg": ALGORITHM, "use": "sig"}
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return SigningKeyRow(kid, ALGORITHM, pem, json.dumps(public_jwk, sort_keys=True), now, True)


def _thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint: a stable, content-derived key id."""
    canonical = json.dumps(
        {k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _from_row(row: SigningKeyRow) -> SigningKey:
    private_key = serialization.load_pem_private_key(row.private_key_pem.encode(), password=None)
    if not isinstance(private_key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"signing key {row.kid} is not an EC key")
    return SigningKey(row.kid, private_key, private_key.public_key(), json.loads(row.public_jwk), row.active)


class KeyRing:
    def __init__(self, sessions: async_sessionmaker, clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._active: SigningKey | None = None
        self._loaded_at = float("-inf")

    async def load(self) -> None:
        """Reads every key, generating and storing a new active one when none is."""
        async with self._sessions.begin() as session:
            rows = await all_signing_keys(session)
            if not any(row.active and row.alg == ALGORITHM for row in rows):
                row = new_signing_key_row(self._clock())
                await insert_signing_key(session, row)
                rows.append(row)
        self._install(rows)

    async def reload(self) -> None:
        async with self._sessions() as session:
            rows = await all_signing_keys(session)
        self._install(rows)

    def _install(self, rows: list[SigningKeyRow]) -> None:
        keys = {row.kid: _from_row(row) for row in rows if row.alg == ALGORITHM}
        active = [key for key in keys.values() if key.active]
        if not active:
            raise RuntimeError("no active signing key")
        self._keys = keys
        # Rows come oldest first: the newest active key signs.
        self._active = active[-1]
        self._loaded_at = time.monotonic()

    @property
    def active(self) -> SigningKey:
        if self._active is None:
            raise RuntimeError("KeyRing.load() was not awaited")
        return self._active

    async def verification_key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        key = self._keys.get(kid)
        if key is None and time.monotonic() - self._loaded_at >= RELOAD_INTERVAL_S:
            await self.reload()
            key = self._keys.get(kid)
        return key.public_key if key is not None else None

    def jwks(self) -> dict:
        return {"keys": [key.public_jwk for key in self._keys.values()]}
