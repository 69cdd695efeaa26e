"""Signing keys: one algorithm (SWITCHBOARD_JWT_ALGORITHM), keys rotated without downtime,
public keys published as a JWKS.

ES256 and RS256 keys live in the database, their private halves sealed with
`SWITCHBOARD_SECRET_KEYS` (key_material.py): one is generated when none is, and
`rotate` adds another. A key's life:

    pending    published in the JWKS, verifies, does not sign yet (`signs_from` ahead:
               the publish delay, for relying parties to fetch the JWKS first)
    signing    the key with the latest `signs_from` that has come
    verifying  superseded; still verifies the tokens it signed
    retired    out of the JWKS, verifies nothing: once every token it signed has expired
               or been revoked (`retire_due`), or at once by an administrator (`retire`)

Which key signs follows from the rows and the clock alone, so every replica switches
at the same moment once it has read the new row: replicas read the keys again every
`refresh` (and at once when told over the bus), and a token naming a key this replica
has not seen triggers one reload, rate-limited so forged `kid`s cannot turn into a
query per request. A superseded key is not retired before every replica must have
switched (two refresh periods after), or it could still be signing somewhere.

HS256 keys come from the environment (the secret signs, previous secrets verify), are
never stored nor published, and rotate by changing the environment.

Every key added or retired leaves an audit record (kid and algorithm, never key
material) in the transaction that adds or retires it: `signing_key.rotate` and
`signing_key.retire` by the administrator asking, `signing_key.retire` of a spent key by
the service itself (`SYSTEM`). The first key, made when none is active, is not recorded,
as the first administrator is not: it is the service's setting up.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.audit import Actor
from switchboard_core.errors import Conflict, InvalidInput, NotFound
from switchboard_core.security.sealing import SecretKeys

from switchboard_auth.domain import key_material
from switchboard_auth.domain.audit import SYSTEM, record
from switchboard_auth.domain.key_material import ASYMMETRIC, Algorithm
from switchboard_auth.store.signing_keys import (
    SigningKeyRow,
    all_signing_keys,
    insert_signing_key,
    mark_retired,
    signed_tokens_live,
)

logger = logging.getLogger(__name__)

RELOAD_INTERVAL_S = 5.0
MAX_PUBLISH_DELAY_S = 7 * 86400


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    # A cryptography key object, or the HS256 secret's bytes.
    private_key: object
    public_key: object
    public_jwk: dict | None
    created_at: datetime | None
    signs_from: datetime | None


@dataclass(frozen=True, slots=True)
class KeyView:
    """What an administrator sees of a key (never its private half)."""

    kid: str
    alg: str
    state: str
    created_at: datetime | None
    signs_from: datetime | None
    retired_at: datetime | None
    public_jwk: dict | None


def _from_row(row: SigningKeyRow, sealing: SecretKeys) -> SigningKey:
    pem = key_material.open_private(sealing, row.kid, row.private_key_pem)
    private_key = key_material.load_private(row.alg, pem)
    return SigningKey(
        row.kid,
        row.alg,
        private_key,
        private_key.public_key(),
        json.loads(row.public_jwk),
        row.created_at,
        row.signing_from,
    )


def _secret_key(secret: bytes) -> SigningKey:
    return SigningKey(key_material.secret_kid(secret), "HS256", secret, secret, None, None, None)


class KeyRing:
    def __init__(
        self,
        sessions: async_sessionmaker,
        clock: Callable[[], datetime],
        *,
        algorithm: Algorithm = "ES256",
        secrets: tuple[bytes, ...] = (),
        publish_delay: timedelta = timedelta(0),
        refresh: timedelta = timedelta(seconds=30),
        clock_skew: timedelta = timedelta(seconds=30),
        sealing: SecretKeys | None = None,
    ) -> None:
        """`secrets`: for HS256, the signing secret first, then those that only verify.
        `sealing`: what seals stored (ES256, RS256) private keys and opens them."""
        if algorithm == "HS256" and not secrets:
            raise ValueError("HS256 needs a secret")
        self.algorithm = algorithm
        self._sealing = sealing or SecretKeys()
        self._sessions = sessions
        self._clock = clock
        self._secrets = secrets
        self.publish_delay = publish_delay
        self.refresh = refresh
        self._clock_skew = clock_skew
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at = float("-inf")
        # Told after this replica changed the keys (the service announces it to the others).
        self.on_change: Callable[[], Awaitable[None]] | None = None
        # Told when keys this replica verified with are gone (retired): principals cached
        # from their tokens must go too.
        self.on_dropped: Callable[[set[str]], None] | None = None

    @property
    def stored(self) -> bool:
        return self.algorithm in ASYMMETRIC

    async def load(self) -> None:
        """Reads every key, generating and storing a new one when none of the algorithm is active."""
        if not self.stored:
            signing, *previous = self._secrets
            keys = [_secret_key(secret) for secret in (signing, *previous)]
            self._keys = {key.kid: key for key in reversed(keys)}
            self._loaded_at = time.monotonic()
            return
        async with self._sessions.begin() as session:
            rows = await all_signing_keys(session)
            if not any(row.active and row.alg == self.algorithm for row in rows):
                row = self._new_row(self._clock(), signs_from=None)
                await insert_signing_key(session, row)
                rows.append(row)
        self._install(rows)

    async def reload(self) -> None:
        if not self.stored:
            return
        async with self._sessions() as session:
            rows = await all_signing_keys(session)
        self._install(rows)

    def _new_row(self, now: datetime, *, signs_from: datetime | None) -> SigningKeyRow:
        pair = key_material.generate(self.algorithm)
        public_jwk = json.dumps(pair.public_jwk, sort_keys=True)
        sealed = key_material.seal_private(self._sealing, pair.kid, pair.private_pem)
        return SigningKeyRow(pair.kid, self.algorithm, sealed, public_jwk, now, True, signs_from)

    def _install(self, rows: list[SigningKeyRow]) -> None:
        keys = {
            row.kid: _from_row(row, self._sealing) for row in rows if row.active and row.alg == self.algorithm
        }
        if not keys:
            raise RuntimeError(f"no active {self.algorithm} signing key")
        dropped = set(self._keys) - set(keys)
        self._keys = keys
        self._loaded_at = time.monotonic()
        if dropped and self.on_dropped is not None:
            self.on_dropped(dropped)

    def signing(self) -> SigningKey:
        """The key that signs now: the latest whose time has come (else the first to come)."""
        if not self._keys:
            raise RuntimeError("KeyRing.load() was not awaited")
        if not self.stored:
            return _secret_key(self._secrets[0])
        now = self._clock()
        ordered = sorted(self._keys.values(), key=lambda k: (k.signs_from, k.created_at, k.kid))
        due = [key for key in ordered if key.signs_from <= now]
        return due[-1] if due else ordered[0]

    async def verification_key(self, kid: str) -> SigningKey | None:
        key = self._keys.get(kid)
        if key is None and self.stored and time.monotonic() - self._loaded_at >= RELOAD_INTERVAL_S:
            await self.reload()
            key = self._keys.get(kid)
        return key

    def jwks(self) -> dict:
        return {"keys": [key.public_jwk for key in self._keys.values() if key.public_jwk is not None]}

    async def views(self) -> list[KeyView]:
        """Every key of the configured algorithm, retired ones too, oldest first."""
        if not self.stored:
            signing = self.signing().kid
            return [
                KeyView(k.kid, k.alg, "signing" if k.kid == signing else "verifying", None, None, None, None)
                for k in reversed(list(self._keys.values()))
            ]
        async with self._sessions() as session:
            rows = [row for row in await all_signing_keys(session) if row.alg == self.algorithm]
        self._install(rows)
        signing, now = self.signing().kid, self._clock()
        return [
            KeyView(
                row.kid,
                row.alg,
                _state(row, signing, now),
                row.created_at,
                row.signing_from,
                row.retired_at,
                json.loads(row.public_jwk),
            )
            for row in rows
        ]

    async def rotate(self, publish_delay: timedelta | None = None, *, by: Actor = SYSTEM) -> KeyView:
        """A new key, published at once and signing after `publish_delay` (default: the setting's)."""
        if not self.stored:
            raise Conflict(
                "HS256 keys come from SWITCHBOARD_JWT_SECRET: rotate by moving the secret to "
                "SWITCHBOARD_JWT_PREVIOUS_SECRETS and setting a new one"
            )
        delay = self.publish_delay if publish_delay is None else publish_delay
        if not timedelta(0) <= delay <= timedelta(seconds=MAX_PUBLISH_DELAY_S):
            raise InvalidInput(f"the publish delay is 0 to {MAX_PUBLISH_DELAY_S} s")
        now = self._clock()
        row = self._new_row(now, signs_from=now + delay)
        async with self._sessions.begin() as session:
            await insert_signing_key(session, row)
            changes = {"alg": row.alg, "signs_from": row.signing_from.isoformat()}
            await record(session, by, "signing_key.rotate", "signing_key", row.kid, changes)
        await self._changed()
        logger.info("signing key %s added; it signs from %s", row.kid, row.signs_from.isoformat())
        return next(view for view in await self.views() if view.kid == row.kid)

    async def retire(self, kid: str, *, by: Actor = SYSTEM) -> None:
        """Retire a key now (a compromised one, say): every token it signed stops verifying."""
        if not self.stored:
            raise Conflict("HS256 keys are retired by removing their secret from the environment")
        await self.reload()
        if kid not in self._keys:
            raise NotFound(f"no active signing key {kid!r}")
        if self.signing().kid == kid:
            raise Conflict("the key signing now cannot be retired: rotate first")
        async with self._sessions.begin() as session:
            await mark_retired(session, kid, self._clock())
            changes = {"alg": self._keys[kid].alg, "reason": "retired by an administrator"}
            await record(session, by, "signing_key.retire", "signing_key", kid, changes)
        await self._changed()
        logger.warning("signing key %s retired by an administrator", kid)

    async def retire_due(self) -> list[str]:
        """Retire superseded keys that every replica has stopped signing with and whose
        tokens are all over; their ids."""
        if not self.stored:
            return []
        now = self._clock()
        signer = self.signing()
        switched_before = now - 2 * self.refresh - self._clock_skew
        superseded = [
            key
            for key in self._keys.values()
            if key.signs_from < signer.signs_from and signer.signs_from <= switched_before
        ]
        retired = []
        for key in superseded:
            async with self._sessions.begin() as session:
                # Tokens within the clock-skew allowance of their expiry still verify.
                if await signed_tokens_live(session, key.kid, now - self._clock_skew):
                    continue
                if await mark_retired(session, key.kid, now):
                    changes = {"alg": key.alg, "reason": "every token it signed is over"}
                    await record(session, SYSTEM, "signing_key.retire", "signing_key", key.kid, changes)
                    retired.append(key.kid)
        if retired:
            logger.info("signing keys %s retired: every token they signed is over", ", ".join(retired))
            await self._changed()
        return retired

    async def _changed(self) -> None:
        await self.reload()
        if self.on_change is not None:
            await self.on_change()


def _state(row: SigningKeyRow, signing: str, now: datetime) -> str:
    if not row.active:
        return "retired"
    if row.kid == signing:
        return "signing"
    return "pending" if row.signing_from > now else "verifying"
