"""`switchboard secrets`: keys sealing upstream credentials and signing keys at rest
(SWITCHBOARD_SECRET_KEYS).

`new-key` prints a fresh `kid:base64key` entry; `rotate` seals every stored credential
and every stored signing key again with the first key listed, straight in the
registry's and auth's databases (no server need run), and says how many it re-sealed.
Rotation is described in docs/upstream-credentials.md.
"""

from __future__ import annotations

import asyncio
import sys

from switchboard_core.errors import SwitchboardError


def new_key() -> int:
    from switchboard_core.security.sealing import new_key_entry

    print(new_key_entry())
    return 0


def rotate() -> int:
    from switchboard_auth.offline import reseal_keys
    from switchboard_auth.settings import AuthSettings
    from switchboard_registry.offline import reseal_credentials
    from switchboard_registry.settings import RegistrySettings

    try:
        done = asyncio.run(reseal_credentials(RegistrySettings()))
        keys = asyncio.run(reseal_keys(AuthSettings()))
    except SwitchboardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(
        f"re-sealed {done.resealed}, already sealed with the first key {done.current}, unopened {len(done.unopened)}"
    )
    print(
        f"signing keys: re-sealed {keys.resealed}, already sealed with the first key {keys.current}, "
        f"unopened {len(keys.unopened)}"
    )
    for gateway_id, why in done.unopened.items():
        print(f"error: gateway {gateway_id}: {why}", file=sys.stderr)
    for kid, why in keys.unopened.items():
        print(f"error: signing key {kid}: {why}", file=sys.stderr)
    return 1 if done.unopened or keys.unopened else 0
