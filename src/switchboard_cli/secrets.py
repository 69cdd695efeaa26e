"""`switchboard secrets`: keys sealing upstream credentials (SWITCHBOARD_SECRET_KEYS).

`new-key` prints a fresh `kid:base64key` entry; `rotate` seals every stored credential
again with the first key listed, straight in the registry's database (no server need
run), and says how many it re-sealed. Rotation is described in docs/upstream-credentials.md.
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
    from switchboard_registry.offline import reseal_credentials
    from switchboard_registry.settings import RegistrySettings

    try:
        done = asyncio.run(reseal_credentials(RegistrySettings()))
    except SwitchboardError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(
        f"re-sealed {done.resealed}, already sealed with the first key {done.current}, unopened {len(done.unopened)}"
    )
    for gateway_id, why in done.unopened.items():
        print(f"error: gateway {gateway_id}: {why}", file=sys.stderr)
    return 1 if done.unopened else 0
