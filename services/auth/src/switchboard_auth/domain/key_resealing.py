"""Key rotation of `SWITCHBOARD_SECRET_KEYS`: every signing key's private half sealed
again with the first key listed (and any still stored in clear sealed at last).

Run by `switchboard secrets rotate` beside the registry's re-sealing of upstream
credentials. Idempotent: keys sealed with the first key already are left alone. The
signing keys themselves do not change, so no token, JWKS or replica notices.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.security.sealing import Resealed, SealError, SecretKeys

from switchboard_auth.domain import key_material
from switchboard_auth.store.signing_keys import reseal_private_key, stored_private_keys


async def reseal_signing_keys(sessions: async_sessionmaker, keys: SecretKeys) -> Resealed:
    if not keys.keys:
        raise SealError("no key to seal with: set SWITCHBOARD_SECRET_KEYS, the new key first")
    async with sessions() as s:
        stored = await stored_private_keys(s)
    resealed = current = 0
    unopened: dict[str, str] = {}
    for kid, was in stored:
        if not key_material.is_clear(was) and keys.is_current(was):
            current += 1
            continue
        try:
            pem = key_material.open_private(keys, kid, was)
        except SealError as exc:
            unopened[kid] = exc.message
            continue
        async with sessions.begin() as s:
            # Changed meanwhile: another rotation sealed it with the first key already.
            if await reseal_private_key(s, kid, was=was, now=key_material.seal_private(keys, kid, pem)):
                resealed += 1
            else:
                current += 1
    return Resealed(resealed, current, unopened)
