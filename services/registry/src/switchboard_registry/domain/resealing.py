"""Key rotation: every gateway's credentials sealed again with the first key.

Run by `switchboard secrets rotate` once `SWITCHBOARD_SECRET_KEYS` lists the new key
first (and the old ones after it). Idempotent: credentials already sealed with the
first key are left alone. Each re-sealing is a catalog change of its own, so the
proxies pick up the new sealed form; nobody's credentials change.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import async_sessionmaker
from switchboard_core.security.sealing import Resealed, SealError, SecretKeys

from switchboard_registry.domain.changes import Changes
from switchboard_registry.store.gateways import reseal, sealed_credentials


async def reseal_all(sessions: async_sessionmaker, changes: Changes, keys: SecretKeys) -> Resealed:
    if not keys.keys:
        raise SealError("no key to seal with: set SWITCHBOARD_SECRET_KEYS, the new key first")
    async with sessions() as s:
        stored = await sealed_credentials(s)
    resealed = current = 0
    unopened: dict[str, str] = {}
    for gateway_id, sealed in stored:
        if keys.is_current(sealed):
            current += 1
            continue
        try:
            plaintext = keys.unseal(sealed, bound_to=gateway_id)
        except SealError as exc:
            unopened[gateway_id] = exc.message
            continue
        async with changes.change() as s:
            # Changed meanwhile (a PATCH): then it is sealed with the first key already.
            if await reseal(s, gateway_id, was=sealed, now=keys.seal(plaintext, bound_to=gateway_id)):
                resealed += 1
            else:
                current += 1
    return Resealed(resealed, current, unopened)
