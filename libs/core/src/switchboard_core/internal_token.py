"""The deployment's internal token as a setting: made, listed, checked for length.

What the services of one deployment authenticate each other's gRPC calls with
(`grpc.internal_auth` sends and checks it). Kept free of gRPC so that processes which
only configure services (`switchboard stack up`, which forks them) never load it.

The setting may list several, comma-separated: the first is sent, any is accepted, so a
token is replaced without downtime (`old,new` everywhere, then `new,old`, then `new`).
"""

from __future__ import annotations

import secrets

METADATA_KEY = "x-switchboard-internal"
MIN_LENGTH = 32


def new_token() -> str:
    return secrets.token_urlsafe(32)


def sent(credential: str) -> str:
    """The token a service sends: the first of the setting's list."""
    return credential.split(",")[0].strip()


def accepted(credential: str) -> tuple[bytes, ...]:
    """The tokens a service accepts: every one the setting lists."""
    return tuple(token.strip().encode() for token in credential.split(",") if token.strip())
